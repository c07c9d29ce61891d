"""Where trainings run: the local workers here; the Ray cluster in tests/test_cluster.py."""

import subprocess
import sys
from pathlib import Path

import pytest

from stages.cli import UserError
from stages.executor import NUMERICS_PACKAGES, HeldStderr, LocalWorkers, code_digest, connect, node_facts


# Where an earlier test in this pytest worker imported JAX, JAX warns at the fork: these workers
# compute pow and never touch JAX or its locks.
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_local_workers_return_results_in_job_order_and_report_progress_in_plain_lines(capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "jax", raising=False)  # as in a stage process: workers are forked
    jobs = [(2, k) for k in range(8)]
    with LocalWorkers() as place:
        results = place.run(pow, jobs, "train@x", lambda result: f"result {result}")
    assert results == [2**k for k in range(8)]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"train@x: 8 training(s) on {min(8, place.cores)} local worker(s)"
    assert [line.split(",")[0] for line in lines[1:]] == [f"train@x: {n}/8 trainings done" for n in (2, 4, 6, 8)]


def test_a_single_job_runs_in_this_process():
    with LocalWorkers() as place:
        assert place.run(pow, [(3, 2)], "train@x", str) == [9]
        assert place.pool is None


def test_node_facts_cover_the_cpu_python_numerics_packages_and_code():
    facts = node_facts()
    assert set(facts) == {"AVX2", "Python", *NUMERICS_PACKAGES, "the stages/ code"}
    assert facts["the stages/ code"] == code_digest() and len(code_digest()) == 16


@pytest.mark.parametrize("address", ["localhost", "auto", "10.0.0.1:port"])
def test_an_address_that_is_not_host_and_port_is_refused(address):
    with pytest.raises(UserError, match="must be host:port of a Ray head node"):
        connect(None, address)


def test_once_jax_is_imported_the_jobs_run_in_this_process(keras):
    """A fork after JAX started its thread pools can hang in the child: no pool then."""
    with LocalWorkers() as place:
        assert place.run(pow, [(2, 3), (2, 4)], "train@x", str) == [8, 16]
        assert place.pool is None


HOLDING = """
import os, sys
from stages.executor import HeldStderr
with HeldStderr() as held:
    os.write(2, b"[W] network_util.cc:330: a line of Ray's core\\n")
    print("a line of Ray's logger", file=sys.stderr)
print(held.text, end="")
print("the stage's own line", file=sys.stderr)
with HeldStderr():
    os.write(2, b"the cause\\n")
    raise ConnectionError
"""


def test_held_stderr_holds_what_is_written_to_descriptor_2_and_lets_it_through_on_failure():
    """As Ray's C++ core writes (straight to the descriptor) and as its logger does (through sys.stderr)."""
    result = subprocess.run([sys.executable, "-c", HOLDING], cwd=Path(__file__).parents[1], capture_output=True,
                            text=True)
    assert result.stdout == "[W] network_util.cc:330: a line of Ray's core\na line of Ray's logger\n"
    assert result.stderr.startswith("the stage's own line\nthe cause\nTraceback"), result.stderr
    assert result.stderr.endswith("ConnectionError\n"), result.stderr
