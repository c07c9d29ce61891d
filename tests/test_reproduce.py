"""The reproducibility gate (.ci/reproduce, `make check`) on a fresh clone of a tiny project with one
series: each gate run runs the whole pipeline again, and what the gate does is the same for any series."""

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from tests.dvc_repo import ROOT, ci, dvc, edit_params, git

def gate(repo):
    return ci(repo, "reproduce")


@pytest.fixture(scope="module")
def clone(sunspots_project, tmp_path_factory):
    """A fresh clone: committed dvc.lock and metrics, but no DVC cache and no data or models."""
    clone = tmp_path_factory.mktemp("clone") / "project"
    subprocess.run(["git", "clone", "-q", str(sunspots_project), str(clone)], check=True)
    return clone


def commit_and_check(clone, message):
    git(clone, "commit", "-qam", message)
    try:
        return gate(clone)
    finally:
        git(clone, "reset", "-q", "--hard", "HEAD~1")
        dvc(clone, "repro")


@pytest.mark.slow
def test_a_fresh_clone_reproduces_the_committed_results(clone):
    result = gate(clone)
    assert result.returncode == 0, result.stdout + result.stderr
    for stage in ("validate", "generate", "data@sunspots", "baselines@sunspots", "train@sunspots-lstm",
                  "tune@sunspots-gru", "forecast_tuned@sunspots-simple_rnn", "evaluate@sunspots", "plots@sunspots",
                  "report"):
        assert f"Running stage '{stage}'" in result.stdout  # everything really ran again
    assert "reproducibility check passed" in result.stdout


@pytest.mark.slow
def test_results_that_do_not_follow_from_the_commit_fail_and_the_gate_names_them(clone):
    """Two mistakes in one commit, one gate run: a params change committed without its results (the gate
    names dvc.lock and the stale figure) and hand-edited metrics (its metrics diff shows the edit)."""
    edit_params(clone, {"plots.dpi": 50})
    path = clone / "metrics/series/sunspots/metrics.json"
    metrics = json.loads(path.read_text())
    metrics["sunspots"]["gru"]["rmse"] = 0.001
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    result = commit_and_check(clone, "change dpi, forget dvc repro; better numbers")
    assert result.returncode == 1
    assert "REPRODUCIBILITY CHECK FAILED" in result.stdout
    for path in ("dvc.lock", "plots/figures/sunspots/loss.png"):  # in its `git status --short` (DVC stages dvc.lock)
        assert re.search(rf"^[ M]{{2}} {re.escape(path)}$", result.stdout, re.MULTILINE), path
    assert "dvc metrics diff HEAD" in result.stdout and "0.001" in result.stdout
    assert "metrics/series/sunspots/metrics.json" in result.stdout


@pytest.mark.slow
def test_uncommitted_pipeline_changes_are_refused(clone):
    edit_params(clone, {"plots.dpi": 60})
    try:
        result = gate(clone)
    finally:
        git(clone, "checkout", "params.yaml")
    assert result.returncode == 2 and "uncommitted changes" in result.stdout


def nudge_history(clone, relative):
    """Move every loss in seed 0's history of the gru by `relative`, as another machine's rounding would."""
    path = clone / "metrics/series/sunspots/history/gru/seed_0.csv"
    history = pd.read_csv(path)
    history["loss"] *= 1 + relative
    path.write_text(history.to_csv(index=False, lineterminator="\n"))


def compare_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare", ROOT / ".ci/compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_last_bit_differences_are_measured_and_still_fail_on_x86_64_with_avx2(clone, monkeypatch, capsys):
    """What the gate prints when only last bits differ, from .ci/compare.py, which the gate runs once the
    bytes differ (the committed-mistake test above sees it fail the gate); no pipeline run needed."""
    compare = compare_module()
    assert compare.machine()["architecture"] == "x86_64" and "avx2" in compare.machine()["isa"].split()
    monkeypatch.chdir(clone)
    nudge_history(clone, 1e-7)
    try:
        assert compare.main() == 1
    finally:
        git(clone, "checkout", "metrics")
    printed = capsys.readouterr().out
    assert "machine: cpu " in printed and "jaxlib 0.10.2" in printed
    assert "metrics/series/sunspots/history/gru/seed_0.csv: largest relative difference 1.0" in printed
    assert "but this is x86-64 with AVX2, where the bytes are guaranteed" in printed


@pytest.mark.slow
@pytest.mark.parametrize("relative, accepted", [(1e-7, True), (1e-2, False)])
def test_outside_the_guarantee_only_last_bit_differences_pass(clone, monkeypatch, relative, accepted):
    compare = compare_module()
    monkeypatch.setattr(compare, "machine", lambda: {"architecture": "aarch64", "isa": "none"})
    monkeypatch.chdir(clone)
    nudge_history(clone, relative)
    try:
        assert compare.main() == (0 if accepted else 1)
    finally:
        git(clone, "checkout", "metrics")


def test_ulp_distance_counts_float32_steps_across_zero():
    compare = compare_module()
    tiny = np.float32(1.4e-45)  # the smallest positive float32
    assert list(compare.ulp_distance([1.0, 0.0, -tiny], [np.nextafter(np.float32(1), np.float32(2)), tiny, tiny])) == [
        1,
        1,
        2,
    ]
