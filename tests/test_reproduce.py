"""The reproducibility gate (.ci/reproduce, `make check`) on a fresh clone of a tiny project."""

import json
import subprocess

import pytest

from tests.dvc_repo import ci, dvc, edit_params, git, make_repo


def gate(repo):
    return ci(repo, "reproduce")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh clone: committed dvc.lock and metrics, but no DVC cache and no data or models."""
    origin = make_repo(tmp_path_factory.mktemp("origin"))
    clone = tmp_path_factory.mktemp("clone") / "project"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    return clone


def commit_and_check(clone, message):
    git(clone, "commit", "-qam", message)
    try:
        return gate(clone)
    finally:
        git(clone, "reset", "-q", "--hard", "HEAD~1")
        dvc(clone, "repro")


def test_a_fresh_clone_reproduces_the_committed_results(clone):
    result = gate(clone)
    assert result.returncode == 0, result.stdout + result.stderr
    for stage in ("validate", "generate", "windows", "train@lstm", "forecast@lstm", "evaluate", "plots"):
        assert f"Running stage '{stage}'" in result.stdout  # everything really ran again
    assert "reproducibility check passed" in result.stdout


def test_a_params_change_committed_without_its_results_fails(clone):
    edit_params(clone, {"plots.dpi": 50})
    result = commit_and_check(clone, "change dpi, forget dvc repro")
    assert result.returncode == 1
    assert "REPRODUCIBILITY CHECK FAILED" in result.stdout
    assert "dvc.lock" in result.stdout and "plots/loss.png" in result.stdout


def test_hand_edited_metrics_fail_and_the_metrics_diff_shows_them(clone):
    path = clone / "metrics/metrics.json"
    metrics = json.loads(path.read_text())
    metrics["gru"]["rmse"] = 0.001
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    result = commit_and_check(clone, "better numbers")
    assert result.returncode == 1
    assert "dvc metrics diff HEAD" in result.stdout and "0.001" in result.stdout
    assert "metrics/metrics.json" in result.stdout


def test_uncommitted_pipeline_changes_are_refused(clone):
    edit_params(clone, {"plots.dpi": 60})
    try:
        result = gate(clone)
    finally:
        git(clone, "checkout", "params.yaml")
    assert result.returncode == 2 and "uncommitted changes" in result.stdout
