import collections
import copy
import fcntl
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.dvc_repo import make_repo, one_series

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_params():
    """A fresh copy of the project's params.yaml."""
    return copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))


@pytest.fixture(scope="session")
def keras():
    """Keras configured as the stages configure it, on $TEST_BACKEND (default: jax)."""
    import os

    from stages.model import import_keras

    return import_keras(os.environ.get("TEST_BACKEND", "jax"))


@pytest.fixture(scope="session")
def small_windows():
    """Windows over a short default-shaped signal: 50 windows of length 10, the last 5 validating."""
    from stages.generate import damped_oscillation
    from stages.data import make_windows, split

    y = damped_oscillation(5.0, 5, 60)["y"].to_numpy()
    return split(*make_windows(y, 10), 0.1)


PROJECTS = ("tiny_project", "sunspots_project")  # built once, then shared (built_project)


@pytest.hookimpl(trylast=True)  # after `-m` deselected: the order of the tests that run
def pytest_collection_modifyitems(items):
    """`--dist loadfile` (both make targets) hands out whole files in this order: those with the most slow tests
    first, so that the longest files start at once and the short ones fill in, rather than one worker ending
    alone on one. Among files with as many slow tests: the first file that uses a built project first (its
    worker builds it), the other files that use it last (by then it is built: their worker does not wait)."""
    slow = collections.Counter(item.path for item in items if item.get_closest_marker("slow"))
    builders = {}  # project: the first file that uses it
    for item in items:
        for project in PROJECTS:
            if project in item.fixturenames:
                builders.setdefault(project, item.path)

    def builds_or_waits(item):  # 0: builds a project, 1: uses none, 2: waits for one another file builds
        used = [project for project in PROJECTS if project in item.fixturenames]
        return 1 if not used else 0 if any(builders[project] == item.path for project in used) else 2

    items.sort(key=lambda item: (-slow[item.path], builds_or_waits(item)))


def built_project(tmp_path_factory, name, params=()):
    """make_repo(params), built once for every pytest worker of the session, under a lock: one worker builds
    it while another waits. With $TEST_PROJECTS set (a directory: `make test-all` sets one for its pytest
    session and the cluster tier's), once for every session that shares it. Never changed afterwards: tests
    that change a project work on their own copy_repo or git clone of it."""
    in_xdist = "PYTEST_XDIST_WORKER" in os.environ  # its workers' base directories share a parent
    shared = os.environ.get("TEST_PROJECTS") or (in_xdist and tmp_path_factory.getbasetemp().parent)
    if not shared:
        return make_repo(tmp_path_factory.mktemp(name), params)
    repo, built = Path(shared) / name, Path(shared) / f"{name}.built"
    with open(Path(shared) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            shutil.rmtree(repo, ignore_errors=True)  # a build that failed half-way
            make_repo(repo, params)
            built.touch()
    return repo


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory):
    """The project with tiny params, both series, reproduced and committed (make_repo)."""
    return built_project(tmp_path_factory, "tiny")


@pytest.fixture(scope="session")
def sunspots_project(tmp_path_factory):
    """The tiny project with the sunspots alone: for the slow tests whose point holds for any series."""
    return built_project(tmp_path_factory, "sunspots", one_series("sunspots"))
