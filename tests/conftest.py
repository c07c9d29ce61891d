import copy
from pathlib import Path

import pytest
import yaml

from tests.dvc_repo import make_repo

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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """For `--dist loadgroup`: every test file on one worker (its module fixtures are built once), and the
    files marked xdist_group("tiny_project") together on one worker, which builds the tiny project once."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.name))


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory):
    """The project with tiny params, reproduced and committed once a session (make_repo). Tests
    that change it work on their own copy_repo or git clone of it."""
    return make_repo(tmp_path_factory.mktemp("tiny"))
