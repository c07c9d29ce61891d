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
import time
from pathlib import Path

from stages.cli import UserError

# Packages whose versions change float results (tensorflow-cpu: train.backend = tensorflow).
NUMERICS_PACKAGES = ("jax", "jaxlib", "keras", "numpy", "ml_dtypes", "mpmath", "tensorflow-cpu")
CONNECT_TIMEOUT = 10  # seconds to reach the cluster's head before giving up
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
            for index, result in self.completed(task, jobs):
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

    def completed(self, task, jobs):
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
    """One Ray task per training, 1 CPU each, retried on another node if its node dies. Every task first
    checks its node against this driver (node_facts); the driver writes every output."""

    def __init__(self, address):
        import ray

        self.ray, self.address = ray, address
        connect(ray, address)
        self.expected = node_facts()
        self.remote = ray.remote(num_cpus=1, max_retries=3)(checked_task)
        self.pending = {}

    def where(self, n_jobs):
        return f"the Ray cluster at {self.address} ({int(self.ray.cluster_resources().get('CPU', 0))} CPUs)"

    def completed(self, task, jobs):
        self.pending = {self.remote.remote(self.expected, task, *job): index for index, job in enumerate(jobs)}
        nodes = set()
        while self.pending:
            [done], _ = self.ray.wait(list(self.pending), num_returns=1)
            index = self.pending.pop(done)
            node, result = self.result(done)
            nodes.add(node)
            yield index, result
        print(f"{len(jobs)} training(s) ran on {len(nodes)} node(s) of the cluster", flush=True)

    def result(self, ref):
        """A task's result; a user error raised on a node (a refused node, a foreign input) as itself."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, UserError):
                raise UserError(str(error.cause)) from None
            raise

    def close(self):
        """Cancel what still runs (Ctrl-C, SIGTERM, a failed task): no task outlives the stage."""
        for ref in self.pending:
            self.ray.cancel(ref, force=True)
        self.ray.shutdown()


def connect(ray, address):
    """Join the cluster at address (host:port of its head), never start one; an address where no head
    answers is a clear error within CONNECT_TIMEOUT seconds, not a hang."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"RAY_ADDRESS = {address!r}: must be host:port of a Ray head node (`ray start --head` prints it)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise UserError(
            f"RAY_ADDRESS = {address}: no Ray cluster answers there ({error}); start one (README: Running on a "
            "cluster) or unset RAY_ADDRESS to train on this machine. No output was written."
        ) from None
    import stages

    # The driver's own code goes to every node, so that no node trains with another checkout's.
    # Ray installs a SIGTERM handler of its own that only prints a stack trace: keep the stage's.
    on_sigterm = signal.getsignal(signal.SIGTERM)
    ray.init(address=address, runtime_env={"py_modules": [stages]}, log_to_driver=False, logging_level="WARNING")
    signal.signal(signal.SIGTERM, on_sigterm)


def checked_task(expected, task, *job):
    """(node id, task(*job)) on a cluster node, after checking that the node computes what the driver would."""
    import ray

    found = node_facts()
    differences = [f"{name} {found[name]} there, {value} on the driver" for name, value in expected.items()
                   if found[name] != value]
    if differences:
        node = f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"
        raise UserError(
            f"node {node} cannot train here: {'; '.join(differences)}. Every node must run the project's locked "
            "environment on a CPU with AVX2 (README: Running on a cluster). No output was written."
        )
    return ray.get_runtime_context().get_node_id(), task(*job)


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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
