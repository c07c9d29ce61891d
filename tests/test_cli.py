"""Stages run as commands, outside DVC: user mistakes and interrupts end in one short message,
and the previous outputs stay byte-identical."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stages.files import load_npz, save_npz
from tests.dvc_repo import ROOT, edit_params, snapshot

# Where an earlier test in this pytest worker imported JAX, JAX warns at every fork; the only code run
# between fork and exec here is the signal.signal below, which takes no lock a JAX thread could hold.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")

DATA = ["damped", "data/damped"]
TRAIN = ["damped", "gru", "data/damped/windows.npz", "models/gru", "metrics/history/gru"]
FORECAST = [
    "damped",
    "gru",
    *(f"data/damped/{name}" for name in ("fit.csv", "holdout.csv", "protocol.json", "scaling.json")),
    "models/gru",
    "metrics/forecast/gru",
    "metrics/one_step/gru",
    "metrics/rolling/gru",
]


def stage(workdir, name, *args, wait=True):
    command = [sys.executable, "-m", f"stages.{name}", *args]
    environment = {**os.environ, "PYTHONPATH": str(workdir)}
    if not wait:
        # SIGINT as a terminal delivers it, even where this test runs in a background job (which
        # ignores SIGINT, and Python then installs no KeyboardInterrupt handler).
        return subprocess.Popen(
            command, cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    return subprocess.run(command, cwd=workdir, env=environment, capture_output=True, text=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project directory with tiny params whose gru has been trained and forecast once."""
    directory = tmp_path_factory.mktemp("trained")
    shutil.copytree(ROOT / "stages", directory / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "params.yaml", directory)
    edit_params(directory, {"signal.n_points": 60, "windows.length": 10, "train.epochs": 2, "models.gru.units": 8,
                            "train.seeds": [0, 1]})
    for name, args in [
        ("generate", ["data/signal.csv"]),
        ("data", DATA),
        ("train", TRAIN),
        ("forecast", FORECAST),
    ]:
        assert stage(directory, name, *args).returncode == 0
    return directory


@pytest.fixture
def workdir(trained, tmp_path):
    """A fresh copy of `trained` for one test to damage."""
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    return tmp_path


def assert_clean_failure(result, *phrases):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_training_exits_cleanly_and_keeps_the_last_outputs(workdir, signum):
    before = snapshot(workdir)
    edit_params(workdir, {"train.epochs": 1_000_000})
    process = stage(workdir, "train", *TRAIN, wait=False)
    assert "(1000000 epochs): 2 training(s) on" in process.stdout.readline()  # training starts
    time.sleep(1)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert snapshot(workdir) == before
    assert not [p for p in Path(workdir).rglob("*.tmp")]


def test_a_diverging_training_names_model_epoch_and_setting(workdir):
    """It stops at a non-finite loss and writes nothing: no NaN reaches metrics/history or the plots."""
    before = snapshot(workdir)
    edit_params(workdir, {"train.learning_rate": 1e12, "train.epochs": 20})
    result = stage(workdir, "train", *TRAIN)
    assert_clean_failure(result, "train@damped-gru diverged", "at epoch", "train.learning_rate = 1000000000000.0")
    assert snapshot(workdir) == before


def test_a_model_predicting_nan_writes_no_forecast(workdir):
    """NaN or infinity in a forecast CSV would break `dvc plots` and the metrics: nothing is written."""
    weights = workdir / "models/gru/seed_1.npz"
    save_npz(weights, {name: np.full_like(array, np.nan) for name, array in load_npz(weights).items()})
    before = snapshot(workdir)
    result = stage(workdir, "forecast", *FORECAST)
    assert_clean_failure(result, "forecast@damped-gru: the model predicts a value that is not finite",
                         "dvc repro train@damped-gru")
    assert snapshot(workdir) == before


def test_weights_of_another_architecture_name_the_stage_to_rerun(workdir):
    edit_params(workdir, {"models.gru.units": 16})
    result = stage(workdir, "forecast", *FORECAST)
    assert_clean_failure(result, "models/gru/seed_0.npz holds weights of another model",
                         "dvc repro train@damped-gru")


def test_a_missing_input_names_the_stage_that_makes_it(workdir):
    (workdir / "data/damped/windows.npz").unlink()
    assert_clean_failure(stage(workdir, "train", *TRAIN), "data/damped/windows.npz is missing", "dvc repro data@damped")


def test_a_truncated_input_names_the_stage_to_rerun(workdir):
    weights = workdir / "models/gru/seed_1.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    assert_clean_failure(
        stage(workdir, "forecast", *FORECAST), "models/gru/seed_1.npz cannot be read", "dvc repro --force train@damped-gru"
    )


def test_bad_params_stop_a_stage_run_directly_before_it_writes(workdir):
    before = snapshot(workdir)
    edit_params(workdir, {"train.epochs": "many"})
    assert_clean_failure(stage(workdir, "train", *TRAIN), "train.epochs = 'many': must be an integer >= 1")
    assert snapshot(workdir) == before


# In a mount namespace of its own (needs root): `disk` is a 1 MB tmpfs holding a copy of models/gru, full or
# read-only, where the stage writes its weights; then whether the copy still equals models/gru.
REFUSED_WRITE = """
mkdir disk && mount -t tmpfs -o size=1m tmpfs disk && cp -a models/gru disk/gru
{refuse}
python -m stages.train damped gru data/damped/windows.npz disk/gru metrics/history/gru
status=$?
rm -f disk/full
diff -r disk/gru models/gru || exit 99
exit $status
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a tmpfs in a mount namespace (unshare -m)")
@pytest.mark.parametrize("refuse, reason, advice", [
    ("head -c 2M /dev/zero > disk/full 2>/dev/null", "No space left on device", "Free some space on its disk"),
    ("mount -o remount,ro disk", "Read-only file system", "Make its directory writable"),
], ids=["full", "read-only"])
def test_a_write_the_machine_refuses_is_one_line_and_keeps_the_last_outputs(workdir, refuse, reason, advice):
    before = snapshot(workdir)
    result = subprocess.run(["unshare", "-m", "--", "bash", "-c", REFUSED_WRITE.format(refuse=refuse)], check=False,
                            cwd=workdir, env={**os.environ, "PYTHONPATH": str(workdir)}, capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr  # 99: the weights on disk changed
    assert result.stderr.splitlines() == [(
        f"error: cannot write disk/gru/seed_0.npz: {reason}. The outputs are the last good ones, unchanged (no file "
        f"is half-written; dvc.lock is as before). {advice}, then run dvc repro again."
    )], result.stderr
    assert snapshot(workdir) == before
