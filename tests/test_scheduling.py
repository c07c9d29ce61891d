"""The Makefile's pytest workers take whole files, so that a file's fixtures are built once (the order and the
shared tiny project: tests/conftest.py). pytest-xdist's --dist loadgroup silently stopped grouping with pytest 9.2
(its issue 1386), and `make test` built the tiny project on both workers at once; this catches such a change
of the installed versions."""

import collections
import re
import subprocess
import sys

from tests.conftest import ROOT

SUITE = '''
import os, pytest

@pytest.mark.parametrize("i", range(4))
def test_worker(i):
    with open("workers.txt", "a") as log:
        log.write(f"{__name__} {os.environ['PYTEST_XDIST_WORKER']}\\n")
'''


def makefile_parallel_options():
    return re.search(r"^PYTEST_PARALLEL := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1).split()


def test_each_file_runs_on_one_worker(tmp_path):
    for name in ("test_one", "test_two"):
        (tmp_path / f"{name}.py").write_text(SUITE)
    options = makefile_parallel_options()
    options[options.index("-n") + 1] = "2"  # two workers on any machine
    run = subprocess.run([sys.executable, "-m", "pytest", *options, "-p", "no:cacheprovider", "-q", "."],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    workers = collections.defaultdict(set)
    for line in (tmp_path / "workers.txt").read_text().splitlines():
        module, worker = line.split()
        workers[module].add(worker)
    assert sorted(workers) == ["test_one", "test_two"]
    assert all(len(ran_on) == 1 for ran_on in workers.values()), dict(workers)
