"""train@ on a real multi-node Ray cluster started here: a head with no CPUs and two worker nodes of
1 CPU each, all on 127.0.0.1, so every training leaves the driver's node. The same bytes as the local
workers; a node killed mid-stage, reported in one line of the project's and none of Ray's; a cluster left
without CPUs, which stops the stage; a node with another package version refused; an address where no
cluster answers; a head lost mid-stage; Ctrl-C and SIGTERM; a queued sweep on the cluster.

Ray replaces 127.0.0.1 with the machine's outward address unless it has none, and only loopback
traffic is allowed here: these tests run in a network namespace that has only `lo` (`make test-cluster`
starts pytest in one with `unshare -n`). Nothing here runs `ray stop`: each test stops what it started.
"""

import contextlib
import importlib.metadata
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from stages.executor import checked_task
from tests.dvc_repo import MODELS, copy_repo, dvc, edit_params, environment, restore, snapshot, stages_run
from tests.test_experiments import kill_processes_in, queue_busy

pytestmark = pytest.mark.cluster

NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
TRAIN_STAGES = tuple(f"train@sunspots-{model}" for model in MODELS)  # the project: the sunspots alone
STAGE = "train@sunspots-gru"  # the one stage the fault tests run: a real series with a hold-out
STAGE_COMMAND = ["stages.train", "sunspots", "gru", "data/sunspots/windows.npz", "models/sunspots/train/gru",
                 "metrics/series/sunspots/history/gru"]
# Every raylet writes a [state-dump] (one record of ~180 tagged lines) to its log each second: Ray's default is at
# start, then each minute. When a node's raylet dies, Ray sends every driver the last 20 lines of the log
# directory's raylet.out, which all nodes of one machine share, so a flood of the raylet's records is what a test sees.
SYSTEM_CONFIG = {"event_stats_print_interval_ms": 1000}
# What Ray's driver prints of a lost node (a dead raylet's log tail, a node marked dead), never in the stage's output.
RAY_MESSAGES = ("[state-dump]", "(raylet)", "Raylet is terminated", "marked dead", "[repeated", "deduplicates logs")
# A line of Ray's C++ core ("[2026-12-07 00:31:33,980 W 13949 13949] network_util.cc:330: ...") or of its Python
# logger ("2026-12-07 00:31:22,493\tINFO utils.py:88 -- ..."), never in the stage's output either.
RAY_LOG_LINE = re.compile(r"^(\[[\d-]+ [\d:,]+ [DIWEF] \d+ \d+\] \w+\.cc:\d+:|[\d-]+ [\d:,]+\t[A-Z]+ \w+\.py:\d+ --)",
                          re.MULTILINE)


@pytest.fixture(scope="module", autouse=True)
def loopback_only():
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        pytest.skip(f"needs a network namespace with loopback only (found {names}): run `make test-cluster`")


def start_cluster(tmp_path, *nodes):
    """A head with 0 CPUs and the given worker nodes; started from an empty directory, so that no
    worker finds the project's code in its working directory (it must come from the driver)."""
    from ray.cluster_utils import Cluster

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1",
                                                                "_system_config": SYSTEM_CONFIG})
        for node in nodes:
            cluster.add_node(**node)
        cluster.wait_for_nodes()
    finally:
        os.chdir(here)
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(tmp_path_factory.mktemp("ray"), NODE, NODE)
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def local(sunspots_project, tmp_path_factory):
    """The tiny project (the sunspots alone), trained by the local workers: the bytes every cluster run must give."""
    repo = copy_repo(sunspots_project, tmp_path_factory.mktemp("local") / "project")
    return repo, snapshot(repo)


@pytest.fixture
def repo(local):
    repo, _ = local
    yield repo
    restore(repo)


def free_cpus(cluster):
    """CPUs of the cluster not held by a task, asked of the cluster by a driver of its own."""
    code = ("import ray; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print(int(ray.available_resources().get('CPU', 0)))" % cluster.address)
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def assert_no_ray_lines(output):
    assert not [text for text in RAY_MESSAGES if text in output], output
    assert not RAY_LOG_LINE.search(output), output


def running_trainings():
    """Ray workers of this machine that run a training, by their process title (Ray sets it to the task's
    name as the task starts): a CPU held by a task whose worker still starts is not one."""
    title = f"ray::{checked_task.__name__}".encode()
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            count += cmdline.read_bytes().startswith(title)
    return count


def wait_until(condition, timeout, what):
    """Poll condition until it holds. The timeouts here only catch a hang: CI runs this tier beside the other
    tiers and the gate, where a stage can take several times as long as alone (2026-12-06: the queued sweep
    over 600 s, a killed node's retraining over 300 s, at a 1-minute load average of 8 on 2 cores)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def kill(cluster, *nodes):
    """SIGKILL worker nodes' processes once every raylet of the cluster has written a [state-dump] to its log
    since this call (the stage's trainings running): the tail Ray sends then holds the periodic dumps, not
    just the raylet's start."""
    logs = list(Path(nodes[0].get_logs_dir_path()).glob("raylet*.out"))
    sizes = {log: log.stat().st_size for log in logs}
    wait_until(lambda: all("[state-dump]" in read_from(log, sizes[log]) for log in logs), 60,
               "a [state-dump] in every raylet's log")
    for node in nodes:
        cluster.remove_node(node, allow_graceful=False)


def read_from(path, offset):
    with open(path, errors="replace") as file:
        file.seek(offset)
        return file.read()


def assert_one_line_per_lost_node(output, victims, epochs):
    """The project's one line for each killed node, none of Ray's; Ray's messages in the file the lines name."""
    assert_no_ray_lines(output)
    for victim in victims:
        node = victim.node_id[:8]
        lines = [line for line in output.splitlines() if node in line]
        assert len(lines) == 1, output
        found = re.fullmatch(rf"{re.escape(STAGE)} \({epochs} epochs\): node 127\.0\.0\.1 \(id {node}…\) lost; "
                             r"its trainings run again elsewhere: 2 of 3 retries left; Ray's messages: (/\S+\.out)",
                             lines[0])
        assert found, output
    # Ray sent its messages (the raylet's death, with its log's tail; the node marked dead); they went to the file.
    messages = Path(found[1]).read_text()
    assert "Raylet is terminated" in messages or "marked dead" in messages, messages


# Each kind of stage that trains, each cell once: every other stage that trains runs the same code.
CLUSTER_STAGES = ("train@sunspots-gru", "tune@sunspots-lstm", "tuned@sunspots-simple_rnn")


def test_the_cluster_gives_the_bytes_of_the_local_workers_and_uses_both_nodes(local, cluster):
    repo, expected = local
    result = dvc(repo, "repro", "--force", "--single-item", *CLUSTER_STAGES, RAY_ADDRESS=cluster.address)
    assert stages_run(result) == list(CLUSTER_STAGES)
    on_the_cluster = f"train@sunspots-gru (4 epochs): 2 training(s) on the Ray cluster at {cluster.address} (2 CPUs)"
    assert on_the_cluster in result.stdout, result.stdout
    assert "local worker" not in result.stdout, result.stdout
    assert_no_ray_lines(result.stdout + result.stderr)
    assert result.stdout.count("2 training(s) ran on 2 node(s) of the cluster") >= 2, result.stdout  # train@, tuned@
    assert snapshot(repo) == expected
    assert git_output(repo, "status", "--porcelain") == ""


def start_stage(repo, address, **popen):
    """The stage STAGE started on its own, as `dvc repro` runs it, against the cluster."""
    command = [sys.executable, "-m", *STAGE_COMMAND]
    # SIGINT as a terminal delivers it, even where the tests run in a background job.
    return subprocess.Popen(command, cwd=repo, env=environment(RAY_ADDRESS=address), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)


@contextlib.contextmanager
def repro_fault_stage(repo, address, **env):
    """`dvc repro --force -s STAGE` against the cluster, as a user runs it; its output in one stream.
    Killed on the way out if a failed check left it running, so that it holds no lock of the project."""
    process = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "--force", "-s", STAGE], cwd=repo,
                               env=environment(RAY_ADDRESS=address, **env), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def test_a_node_killed_mid_stage_is_one_line_and_the_bytes_do_not_change(repo, cluster):
    edit_params(repo, {"train.epochs": 400})
    dvc(repo, "repro", STAGE)  # locally: the bytes the cluster must give
    reference = snapshot(repo)
    with repro_fault_stage(repo, cluster.address) as process:
        wait_until(lambda: running_trainings() == 2, 300, "both seeds to be training")
        victim = cluster.worker_nodes.copy().pop()
        kill(cluster, victim)  # its raylet and workers, mid-training
        cluster.add_node(**NODE)
        output, _ = process.communicate(timeout=900)
    print(output)  # the stage's whole output, for the record (pytest -s)
    assert process.returncode == 0, output
    assert_one_line_per_lost_node(output, [victim], 400)
    assert snapshot(repo) == reference


def test_a_cluster_without_cpus_stops_the_stage_within_the_limit_and_keeps_the_outputs(repo, tmp_path):
    """Both worker nodes lost mid-stage and none joins: the stage says that its trainings wait, then
    stops at CLUSTER_WAIT_LIMIT with one message, and no task of it is left on the cluster."""
    limit = 20
    emptied = start_cluster(tmp_path, NODE, NODE)  # its own: this test leaves it without worker nodes
    try:
        before = snapshot(repo)
        edit_params(repo, {"train.epochs": 1_000_000})
        with repro_fault_stage(repo, emptied.address, CLUSTER_WAIT_LIMIT=str(limit)) as process:
            wait_until(lambda: running_trainings() == 2, 300, "both seeds to be training")
            victims = list(emptied.worker_nodes)
            kill(emptied, *victims)
            removed = time.monotonic()
            output, _ = process.communicate(timeout=limit + 60)
        print(output)  # the stage's whole output, for the record (pytest -s)
        assert time.monotonic() - removed < limit + 30
        assert process.returncode != 0
        assert_one_line_per_lost_node(output, victims, 1000000)
        waiting = rf"{re.escape(STAGE)} \(1000000 epochs\): 2 training\(s\) wait for a CPU since [\d:]+: the cluster "
        assert re.search(waiting + "has 0 CPU", output), output  # the live nodes' CPUs, as the error says
        assert f"error: {STAGE} (1000000 epochs): 2 training(s) waited {limit} s for a CPU" in output, output
        assert "Traceback" not in output, output
        edit_params(repo, {"train.epochs": 4})
        assert snapshot(repo) == before
        emptied.add_node(**NODE)  # a node that joins now finds no task of the stage to run
        wait_until(lambda: free_cpus(emptied) == 1, 30, "the new node's CPU to be free")
    finally:
        emptied.shutdown()


def test_a_head_lost_mid_stage_stops_it_at_once_with_one_line_and_keeps_the_outputs(repo, tmp_path):
    """Ray's core would end the stage 60 s after losing the head, with a line of its own; the stage stops first."""
    headless = start_cluster(tmp_path, NODE, NODE)  # its own: this test kills its head
    try:
        before = snapshot(repo)
        edit_params(repo, {"train.epochs": 1_000_000})
        address = headless.address  # None once the head is gone
        with repro_fault_stage(repo, address) as process:
            wait_until(lambda: running_trainings() == 2, 300, "both seeds to be training")
            headless.remove_node(headless.head_node, allow_graceful=False)
            removed = time.monotonic()
            output, _ = process.communicate(timeout=180)
        print(output)  # the stage's whole output, for the record (pytest -s)
        assert time.monotonic() - removed < 45, output
        assert process.returncode != 0
        assert (f"error: {STAGE} (1000000 epochs): the cluster's head at {address} no longer answers "
                "([Errno 111] Connection refused); the stage stops and no output was written.") in output, output
        assert "Traceback" not in output, output
        assert_no_ray_lines(output)
        edit_params(repo, {"train.epochs": 4})
        assert snapshot(repo) == before
    finally:
        headless.shutdown()


def test_a_node_with_another_package_version_is_refused_and_nothing_is_written(repo, tmp_path):
    """A node whose Python finds another mpmath: the task names the node, the package and both versions."""
    fake = tmp_path / "site"
    (fake / "mpmath-0.0.1.dist-info").mkdir(parents=True)
    (fake / "mpmath-0.0.1.dist-info/METADATA").write_text("Metadata-Version: 2.1\nName: mpmath\nVersion: 0.0.1\n")
    other = start_cluster(tmp_path, {**NODE, "env_vars": {"PYTHONPATH": str(fake)}})
    try:
        before = snapshot(repo)
        result = dvc(repo, "repro", "--force", "-s", STAGE, check=False, RAY_ADDRESS=other.address)
    finally:
        other.shutdown()
    ours = importlib.metadata.version("mpmath")
    assert result.returncode != 0
    assert "cannot train here: mpmath 0.0.1 there, " + ours + " on the driver" in result.stderr, result.stderr
    assert "(127.0.0.1)" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert_no_ray_lines(result.stderr)
    assert snapshot(repo) == before


def test_an_address_where_no_cluster_answers_fails_fast_and_keeps_the_outputs(repo):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    before = snapshot(repo)
    started = time.monotonic()
    result = dvc(repo, "repro", "--force", "-s", STAGE, check=False, RAY_ADDRESS=address)
    assert time.monotonic() - started < 60
    assert result.returncode != 0
    assert f"RAY_ADDRESS = {address}: no Ray cluster answers there" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert_no_ray_lines(result.stderr)
    assert snapshot(repo) == before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_stage_cancels_its_tasks_and_keeps_the_outputs(repo, cluster, signum):
    before = snapshot(repo)
    edit_params(repo, {"train.epochs": 1_000_000})
    process = start_stage(repo, cluster.address)
    wait_until(lambda: running_trainings() == 2, 300, "both seeds to be training")
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 1
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert_no_ray_lines(stderr)
    wait_until(lambda: free_cpus(cluster) == 2, 30, "the cluster to have no task left")
    edit_params(repo, {"train.epochs": 4})
    assert snapshot(repo) == before


def test_a_queued_sweep_trains_on_the_cluster_and_equals_local_runs(repo, cluster):
    """`dvc exp run --queue` + `dvc queue start -j 2` with RAY_ADDRESS set: each experiment's trained
    weights and histories (their hashes in dvc.lock) equal those of the same params trained locally;
    every later stage is a function of them."""
    rates = ("0.05", "0.1")
    expected = {}
    for rate in rates:
        edit_params(repo, {"train.learning_rate": float(rate)})
        dvc(repo, "repro", *TRAIN_STAGES)
        expected[rate] = trained_outputs((repo / "dvc.lock").read_text())
        restore(repo)
    dvc(repo, "exp", "run", "--queue", "-S", f"train.learning_rate={','.join(rates)}")
    subprocess.run([sys.executable, "-m", "dvc", "queue", "start", "-j", "2"], cwd=repo,
                   env=environment(RAY_ADDRESS=cluster.address), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    try:
        wait_until(lambda: not queue_busy(repo), 1800, "the queue to finish")
        status = dvc(repo, "queue", "status").stdout
        names = [line.split()[1] for line in status.splitlines() if line.rstrip().endswith("Success")]
        assert len(names) == 2, status
        for name in names:
            log = dvc(repo, "queue", "logs", name).stdout
            for stage in TRAIN_STAGES:
                assert f"{stage} (4 epochs): 2 training(s) on the Ray cluster at {cluster.address}" in log, log
            assert "local worker" not in log, log
            assert_no_ray_lines(log)
    finally:
        dvc(repo, "queue", "stop", "--kill")
        kill_processes_in(repo)
    found = {}
    for commit in git_output(repo, "for-each-ref", "refs/exps", "--format=%(objectname)").split():
        params = yaml.safe_load(git_output(repo, "show", f"{commit}:params.yaml"))
        found[str(params["train"]["learning_rate"])] = trained_outputs(git_output(repo, "show", f"{commit}:dvc.lock"))
    assert found == expected


def trained_outputs(lock):
    stages = yaml.safe_load(lock)["stages"]
    return {stage: stages[stage]["outs"] for stage in TRAIN_STAGES}


def git_output(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout
