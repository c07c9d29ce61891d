"""Benchmark: train@ stages on a Ray cluster against the local workers, side by side in one run.

    make bench-cluster     (runs: python -m benchmarks.cluster [the options of benchmarks.bench])

In a scratch copy of the project, on a cluster started here (a head with 0 CPUs and worker nodes of
1 CPU each, all on 127.0.0.1; it needs a network namespace with loopback only, which the make target
makes): `dvc repro --force` locally and on 2 and 1 worker CPUs (the cost model), `dvc repro -f -s
train@damped-<first model>` locally and on 2 worker CPUs, and the per-task overhead: round trips of a task
that ships the windows and returns a training's weights and losses, through the same node check as a
training. Its section replaces the one of an earlier run at the end of the output file.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench import HEADING, VENV_BIN, copy_project, parse_options, run_timed, seconds

NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
ROUND_TRIPS = 50
PROJECTED_CPUS = (8, 32, 128)


def start_cluster(cwd, workers):
    """Started from the project copy, so that its workers share the copy's JAX compilation cache."""
    from ray.cluster_utils import Cluster

    here = os.getcwd()
    os.chdir(cwd)
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1"})
        for _ in range(workers):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
    finally:
        os.chdir(here)
    return cluster


def shipped_and_returned(data, weights, epochs):
    """A task's payload without its training: the windows in, a training's result out."""
    import numpy as np

    return weights, np.zeros(epochs, np.float32), np.zeros(epochs, np.float32), None


def task_overhead_ms(address, copy, model, epochs):
    """Milliseconds per task, sequential round trips: dispatch, node check, shipping data and weights."""
    import ray

    from stages.executor import checked_task, node_facts
    from stages.files import load_npz

    data = load_npz(copy / "data/damped/windows.npz")
    weights = load_npz(copy / f"models/damped/train/{model}/seed_0.npz")
    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(checked_task)
        expected = node_facts()
        ray.get(remote.remote(expected, shipped_and_returned, data, weights, epochs))  # workers started
        start = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            ray.get(remote.remote(expected, shipped_and_returned, data, weights, epochs))
        return (time.perf_counter() - start) / ROUND_TRIPS * 1000
    finally:
        ray.shutdown()


def measure(args):
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    for name in ("PYTHONPATH", "KERAS_BACKEND", "JAX_COMPILATION_CACHE_DIR", "RAY_ADDRESS"):
        env.pop(name, None)
    times = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        copy = Path(tmp)
        copy_project(copy, args, env)
        run_timed(["dvc", "repro"], copy, env)  # fills the JAX compilation cache: every row below is warm
        full, train = ["dvc", "repro", "--force"], ["dvc", "repro", "-f", "-s", f"train@damped-{args.models[0]}"]
        times["full", "local"] = run_timed(full, copy, env)
        times["train", "local"] = run_timed(train, copy, env)
        cluster = start_cluster(copy, workers=2)
        try:
            on_cluster = dict(env, RAY_ADDRESS=cluster.address)
            run_timed(train, copy, on_cluster)  # the workers' first compilation, into the shared cache
            times["full", 2] = run_timed(full, copy, on_cluster)
            times["train", 2] = run_timed(train, copy, on_cluster)
            times["overhead_ms"] = task_overhead_ms(cluster.address, copy, args.models[0], args.epochs)
            cluster.remove_node(cluster.worker_nodes.copy().pop())
            times["full", 1] = run_timed(full, copy, on_cluster)
        finally:
            cluster.shutdown()
    return times


def cost_model(times, seeds):
    """`dvc repro -f` on c worker CPUs: fixed + ceil(seeds / c) × one round (a training of each model;
    each CPU trains its share of a stage's seeds in turn), fitted to the 1- and 2-CPU runs. The fixed
    part is everything that does not shrink with CPUs: the other stages, process start-up, imports,
    compilation, the cluster's dispatch."""
    rounds = lambda cpus: -(-seeds // cpus)  # noqa: E731
    per_round = (times["full", 1] - times["full", 2]) / (rounds(1) - rounds(2))
    fixed = times["full", 2] - rounds(2) * per_round
    return per_round, fixed, lambda cpus: fixed + rounds(cpus) * per_round


def section(times, args, loads):
    n, models = args.seeds, args.models
    per_round, fixed, projected = cost_model(times, n)
    ratio = times["full", 2] / times["full", "local"]
    rows = [
        HEADING,
        "",
        f"Warm runs ({args.epochs} epochs, {n} seeds, models: {', '.join(models)}) in one scratch copy, the local "
        "workers and a cluster on this machine side by side: a head with 0 CPUs and worker nodes of 1 CPU each on "
        "127.0.0.1 (`make bench-cluster`). On 2 cores a cluster cannot be faster than the local workers; "
        f"the target is to be within 1.15× of them. 1-minute load average at start / end: {loads[0]:.2f} / "
        f"{loads[1]:.2f} (above ~0.5 other processes shared the cores).",
        "",
        "| wall time | local workers (2 cores) | cluster, 2 worker CPUs | cluster / local | cluster, 1 worker CPU |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `dvc repro --force`, {len(models)} models × {n} seeds | {seconds(times['full', 'local'])} "
        f"| {seconds(times['full', 2])} | **{ratio:.2f}×** ({'within' if ratio <= 1.15 else '**NOT** within'} 1.15×) "
        f"| {seconds(times['full', 1])} |",
        f"| `dvc repro -f -s train@damped-{models[0]}`, {n} seeds | {seconds(times['train', 'local'])} "
        f"| {seconds(times['train', 2])} "
        f"| {times['train', 2] / times['train', 'local']:.2f}× | |",
        "",
        f"Per-task overhead on the cluster: **{times['overhead_ms']:.1f} ms** (mean of {ROUND_TRIPS} sequential "
        "round trips of a task that checks its node, receives the windows and returns a training's weights and "
        "losses, without training).",
        "",
        f"Cost model, fitted to the 1- and 2-CPU runs: `dvc repro -f` = {seconds(fixed)} fixed (the stages that "
        "do not train, and in each train@ stage Python, the cluster connection, Keras import and compilation) + "
        f"⌈{n} / CPUs⌉ × {seconds(per_round)} (one training of each model, {seconds(per_round / len(models))} "
        "per training on average: each CPU trains its share of a stage's seeds in turn). Projected:",
        "",
        "| worker CPUs | 1 | 2 | " + " | ".join(str(c) for c in PROJECTED_CPUS) + " |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in PROJECTED_CPUS) + " |",
        "| `dvc repro -f` | " + " | ".join(seconds(projected(c)) for c in (1, 2, *PROJECTED_CPUS)) + " |",
        "",
        f"Beyond {n} CPUs a `dvc repro` gains nothing (a stage trains {n} seeds); a queued sweep "
        "(`dvc queue start -j N`) runs N experiments at once, so its trainings fill N times as many CPUs.",
        "",
    ]
    return "\n".join(rows)


def main(argv):
    args = parse_options(argv, "python -m benchmarks.cluster", __doc__.split("\n")[0],
                         "markdown file whose cluster section to replace")
    load_start = os.getloadavg()[0]
    times = measure(args)
    text = section(times, args, (load_start, os.getloadavg()[0]))
    print(text)
    output = Path(args.output)
    before = output.read_text().split(HEADING)[0].rstrip("\n") + "\n\n" if output.exists() else ""
    output.write_text(before + text)


if __name__ == "__main__":
    main(sys.argv[1:])
