"""Where trainings run: worker processes on this machine, or a Ray cluster when RAY_ADDRESS is set.

Either way, `with executor() as place: place.run(task, jobs, label, summary)` returns task(*job)
for every job, in job order, and shows one progress bar for them. A training's bits do not depend
on where it runs (every x86-64 CPU with AVX2 gives the same bytes), so the cluster's address is no
param: it makes no stage stale.
What the cluster cannot be trusted to share, each task checks before it trains: the CPU's AVX2,
the versions of the packages that compute the numbers, and this very code.
"""

import hashlib
import importlib.metadata
import multiprocessing
import os
import platform
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from stages.cli import UserError

# Packages whose versions change float results (tensorflow-cpu: train.backend = tensorflow).
NUMERICS_PACKAGES = ("jax", "jaxlib", "keras", "numpy", "ml_dtypes", "mpmath", "tensorflow-cpu")
CONNECT_TIMEOUT = 10  # seconds to reach the cluster's head before giving up
RETRIES = 3  # times a training runs again when its node or its worker is lost
TICK = 1  # seconds between looks at the cluster while no training finishes
WAIT_NOTICE = 10  # seconds the trainings wait for a CPU before the stage says so
WAIT_LIMIT = 300  # seconds they may wait before the stage stops, unless CLUSTER_WAIT_LIMIT says otherwise
PLAIN_REPORTS = 4  # lines of progress when the output is not a terminal


def executor():
    """The place trainings run for one stage, to use in a `with`: the Ray cluster at RAY_ADDRESS if it
    is set (Ray's own convention), else worker processes on this machine. Ray is imported only then."""
    address = os.environ.get("RAY_ADDRESS")
    return RayCluster(address) if address else LocalWorkers()


class Executor:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, task, jobs, label, summary):
        """[task(*job) for job in jobs], in job order, with one progress display for them all;
        summary(result) is a short text for it (the latest loss)."""
        print(f"{label}: {len(jobs)} training(s) on {self.where(len(jobs))}", flush=True)
        results = [None] * len(jobs)
        with Progress(label, len(jobs)) as progress:
            for index, result in self.completed(task, jobs, progress):
                results[index] = result
                progress.advance(summary(result))
        return results


class LocalWorkers(Executor):
    """One worker process per core, forked before anything imports JAX, so that a worker runs as this
    process does (even under an emulator); XLA runs on one thread in each. A single job runs in this
    process, and so does every job once this process has imported JAX: a fork then copies XLA's
    thread pools without their threads, and the child can wait forever on their locks."""

    def __init__(self):
        self.cores = len(os.sched_getaffinity(0))
        self.pool = None

    def where(self, n_jobs):
        return f"{self.workers(n_jobs)} local worker(s)"

    def workers(self, n_jobs):
        if self.pool is None and "jax" in sys.modules:
            return 1
        return min(n_jobs, self.cores)

    def completed(self, task, jobs, progress):
        """(index, result) pairs, as trainings finish."""
        if self.pool is None and self.workers(len(jobs)) == 1:
            return ((index, task(*job)) for index, job in enumerate(jobs))
        if self.pool is None:
            self.pool = multiprocessing.get_context("fork").Pool(self.cores, initializer=_leave_interrupts_to_the_stage)
        return self.pool.imap_unordered(_indexed, [(task, index, job) for index, job in enumerate(jobs)])

    def close(self):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _indexed(item):
    task, index, job = item
    return index, task(*job)


def _leave_interrupts_to_the_stage():
    """Workers ignore Ctrl-C and die quietly on SIGTERM: the stage process stops them (one message)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class RayCluster(Executor):
    """One Ray task per training, 1 CPU each. Every task first checks its node against this driver
    (node_facts); the driver writes every output.

    Each task yields its node as it starts, then its result, so the driver knows where every training
    runs. The driver, not Ray, runs a training again when its node or worker is lost: it can then name
    the lost node in one line of its own (Ray would print its own lines into the stage's output), and
    it sees trainings that wait for a CPU that no node offers."""

    def __init__(self, address):
        # Ray holds back repeated lines and prints them at shutdown from this thread: print each at once (to
        # Ray's log, see RayMessages), whole, with no "[repeated 3x across cluster]" summary.
        os.environ["RAY_DEDUP_LOGS"] = "0"
        import ray

        self.ray, self.address = ray, address
        self.wait_limit = wait_limit()
        with HeldStderr() as connecting:
            connect(ray, address)
        self.messages = RayMessages(ray, connecting.text)
        self.expected = node_facts()
        self.remote = ray.remote(num_cpus=1, max_retries=0, num_returns="streaming")(checked_task)
        self.pending = {}  # the task of each training not yet finished: its generator -> the job's index
        self.lost = set()  # nodes reported lost

    def where(self, n_jobs):
        return f"the Ray cluster at {self.address} ({self.cpus()} CPUs)"

    def cpus(self):
        """CPUs of the nodes alive and not lost: the cluster lists a lost node as alive for a while."""
        return int(sum(node["Resources"].get("CPU", 0) for node in self.ray.nodes()
                       if node["Alive"] and node["NodeID"] not in self.lost))

    def completed(self, task, jobs, progress):
        self.submit = lambda index: self.remote.remote(self.expected, task, *jobs[index])
        self.pending = {self.submit(index): index for index in range(len(jobs))}
        self.running = {}  # index -> node id, from the task's first item
        self.retries, self.waiting_since, self.said_wait = [RETRIES] * len(jobs), None, False
        self.seen = set()  # nodes seen alive during the stage
        nodes = set()
        while self.pending:
            ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=TICK)
            self.check_head(progress)
            self.seen.update(n["NodeID"] for n in self.ray.nodes() if n["Alive"])
            self.watch_cpus(progress)
            if not ready:
                continue
            index = self.pending.pop(ready[0])
            try:
                item = self.result(next(ready[0]))
            except (self.ray.exceptions.NodeDiedError, self.ray.exceptions.WorkerCrashedError):
                self.run_again(index, progress)
                continue
            if index in self.running:
                nodes.add(self.running.pop(index))
                yield index, item
            else:
                self.running[index] = item
                self.pending[ready[0]] = index
        print(f"{len(jobs)} training(s) ran on {len(nodes)} node(s) of the cluster", flush=True)

    def result(self, ref):
        """A task's item; a user error raised on a node (a refused node, a foreign input) as itself."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, UserError):
                raise UserError(str(error.cause)) from None
            raise

    def run_again(self, index, progress):
        """Submit again a training whose node or worker was lost; one line per lost node, naming it."""
        if self.retries[index] == 0:
            raise UserError(f"{progress.label}: a training lost its node or worker {RETRIES + 1} times; "
                            "no output was written")
        self.retries[index] -= 1
        node = self.running.pop(index, None)
        nodes = {n["NodeID"]: n for n in self.ray.nodes()}
        # A task lost before it said where it runs was on a node lost since the stage saw it alive.
        for lost in [node] if node is not None else self.seen:
            if lost not in self.lost and not alive(nodes[lost]):
                self.lost.add(lost)
                left = min([self.retries[index]] + [self.retries[i] - 1 for i, n in self.running.items() if n == lost])
                progress.say(f"{node_name(nodes[lost])} lost; its trainings run again elsewhere: {left} of {RETRIES} "
                             f"retries left; Ray's messages: {self.messages.path}")
        if node is not None and node not in self.lost:  # only the worker process died (killed, out of memory)
            progress.say(f"a training's worker on {node_name(nodes[node])} died; it runs again: "
                         f"{self.retries[index]} of {RETRIES} retries left; Ray's messages: {self.messages.path}")
        self.pending[self.submit(index)] = index

    def check_head(self, progress):
        """Stop at once if the head no longer answers: Ray's calls to it would block, and after 60 s Ray's
        core would end the stage with a line of its own. A killed head's port refuses at once; a live one
        answers within CONNECT_TIMEOUT even over a slow network."""
        error = refusal(self.address, CONNECT_TIMEOUT)
        if error is not None:
            raise UserError(f"{progress.label}: the cluster's head at {self.address} no longer answers ({error}); "
                            "the stage stops and no output was written. Restart the cluster (docs/cluster.md) and "
                            "run the stage again, or unset RAY_ADDRESS to train on this machine.")

    def watch_cpus(self, progress):
        """Trainings that wait while none runs and no CPU is free wait for a node or for other jobs: say
        so after WAIT_NOTICE seconds, and stop at the limit (close() cancels the tasks)."""
        waiting = len(self.pending) - len(self.running)
        if not waiting or self.running or self.ray.available_resources().get("CPU", 0) >= 1:
            if self.said_wait:
                progress.say("a CPU is free: the trainings go on")
            self.waiting_since, self.said_wait = None, False
            return
        now = time.time()
        self.waiting_since = self.waiting_since or now
        since = time.strftime("%H:%M:%S", time.localtime(self.waiting_since))
        if now - self.waiting_since >= self.wait_limit:
            raise UserError(
                f"{progress.label}: {waiting} training(s) waited {self.wait_limit:.0f} s for a CPU (since {since}): "
                f"the cluster at {self.address} has {self.cpus()} CPU(s), none free. The stage's tasks are "
                "cancelled; no output was written. Add worker nodes (docs/cluster.md) and run the stage "
                "again."
            )
        if not self.said_wait and now - self.waiting_since >= WAIT_NOTICE:
            stop = time.strftime("%H:%M:%S", time.localtime(self.waiting_since + self.wait_limit))
            progress.say(f"{waiting} training(s) wait for a CPU since {since}: the cluster has {self.cpus()} "
                         f"CPU(s), none free; the stage stops at {stop} unless a node joins (CLUSTER_WAIT_LIMIT = "
                         f"{self.wait_limit:.0f} s)")
            self.said_wait = True

    def close(self):
        """Cancel what still runs (Ctrl-C, SIGTERM, a failed task, no CPU): no task outlives the stage."""
        for generator in self.pending:
            self.ray.cancel(generator, force=True)
        self.ray.shutdown()
        self.messages.close()


class RayMessages:
    """What Ray's driver prints on its own goes to a file in Ray's log directory, not into the stage's
    output: the lines its C++ core wrote while connecting (given here), and the cluster's error messages
    (a raylet that died, with the tail of its log; a node marked dead), which Ray prints from threads of
    its own whatever log_to_driver says. The stage's own lines come from the main thread and go where
    they always did."""

    def __init__(self, ray, connecting):
        context = ray.get_runtime_context()
        self.path = Path(context.get_temp_dir()) / context.get_session_name() / "logs" / f"driver-{os.getpid()}.out"
        self.file = open(self.path, "a", buffering=1)  # noqa: SIM115 (open while the stage drives the cluster)
        self.file.write(connecting)
        self.streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = (ByThread(stream, self.file) for stream in self.streams)

    def close(self):
        sys.stdout, sys.stderr = self.streams
        self.file.close()


class HeldStderr:
    """In a `with` block, holds back what is written to file descriptor 2 (`.text` after it): Ray's C++ core
    writes there itself, past sys.stderr (on a machine with no route out, that it could not find this
    node's address from outside). If the block fails, the text is let through: it may say why."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved, self.file = os.dup(2), tempfile.TemporaryFile("w+")
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, failure, *_):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        self.text = self.file.read()
        self.file.close()
        if failure is not None:
            sys.stderr.write(self.text)


class ByThread:
    """A stream that writes the main thread's text to stream and every other thread's to other."""

    def __init__(self, stream, other):
        self.stream, self.other = stream, other

    def write(self, text):
        main = threading.current_thread() is threading.main_thread()
        return (self.stream if main else self.other).write(text)

    def flush(self):
        self.stream.flush()
        self.other.flush()

    def __getattr__(self, name):  # isatty, fileno, encoding: the stream's own
        return getattr(self.stream, name)


def alive(node):
    """Whether a node (one of ray.nodes()) is alive: listed so, and its raylet answers. The cluster marks a
    node dead only after its health checks have failed for a while, but a killed raylet's port refuses at once."""
    return node["Alive"] and refusal(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}", TICK) is None


def refusal(address, timeout):
    """Why nothing answers at address (host:port) within timeout seconds, or None if something does."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        return error
    return None


def node_name(node):
    """A node as the user reads it: its address and the start of its id (one of ray.nodes())."""
    return f"node {node['NodeManagerAddress']} (id {node['NodeID'][:8]}…)"


def wait_limit():
    """CLUSTER_WAIT_LIMIT (seconds), an environment variable rather than a param: it changes no byte."""
    value = os.environ.get("CLUSTER_WAIT_LIMIT", str(WAIT_LIMIT))
    try:
        return float(value)
    except ValueError:
        raise UserError(f"CLUSTER_WAIT_LIMIT = {value!r}: must be a number of seconds") from None


def connect(ray, address):
    """Join the cluster at address (host:port of its head), never start one; an address where no head
    answers is a clear error within CONNECT_TIMEOUT seconds, not a hang."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"RAY_ADDRESS = {address!r}: must be host:port of a Ray head node (`ray start --head` prints it)")
    error = refusal(address, CONNECT_TIMEOUT)
    if error is not None:
        raise UserError(
            f"RAY_ADDRESS = {address}: no Ray cluster answers there ({error}); start one (docs/cluster.md) "
            "or unset RAY_ADDRESS to train on this machine. No output was written."
        )
    import stages

    # The driver's own code goes to every node, so that no node trains with another checkout's.
    # Ray installs a SIGTERM handler of its own that only prints a stack trace: keep the stage's.
    on_sigterm = signal.getsignal(signal.SIGTERM)
    ray.init(address=address, runtime_env={"py_modules": [stages]}, log_to_driver=False, logging_level="WARNING")
    signal.signal(signal.SIGTERM, on_sigterm)


def checked_task(expected, task, *job):
    """On a cluster node: its node id as soon as it runs, then task(*job) after checking that the node
    computes what the driver would."""
    import ray

    yield ray.get_runtime_context().get_node_id()
    found = node_facts()
    differences = [f"{name} {found[name]} there, {value} on the driver" for name, value in expected.items()
                   if found[name] != value]
    if differences:
        node = f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"
        raise UserError(
            f"node {node} cannot train here: {'; '.join(differences)}. Every node must run the project's locked "
            "environment on a CPU with AVX2 (docs/cluster.md). No output was written."
        )
    yield task(*job)


def node_facts():
    """What must be equal on every node for equal bytes: AVX2, Python, the numerics packages, the code."""
    facts = {"AVX2": "yes" if " avx2 " in _cpu_flags() else "no", "Python": platform.python_version()}
    for name in NUMERICS_PACKAGES:
        try:
            facts[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            facts[name] = "not installed"
    facts["the stages/ code"] = code_digest()
    return facts


def _cpu_flags():
    text = Path("/proc/cpuinfo").read_text()
    return " " + " ".join(line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")) + " "


def code_digest():
    """sha256 over the stages package as imported here (file names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# --- progress ----------------------------------------------------------------------------------


class Progress:
    """One live bar on a terminal (tqdm, on stderr); elsewhere (CI, logs) a few plain lines."""

    def __init__(self, label, total):
        self.label, self.total, self.done, self.start = label, total, 0, time.monotonic()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="training", dynamic_ncols=True,
                            bar_format="{desc}: {bar} {n_fmt}/{total_fmt} trainings{postfix} [{elapsed}<{remaining}]")

    def advance(self, summary):
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(summary, refresh=False)
            self.bar.update()
        elif self.done * PLAIN_REPORTS // self.total > (self.done - 1) * PLAIN_REPORTS // self.total:
            elapsed = time.monotonic() - self.start
            print(f"{self.label}: {self.done}/{self.total} trainings done, {summary}, {elapsed:.0f} s", flush=True)

    def say(self, text):
        """A line that stays: above the bar on a terminal, else a plain line."""
        if self.bar is not None:
            self.bar.write(f"{self.label}: {text}")
        else:
            print(f"{self.label}: {text}", flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
