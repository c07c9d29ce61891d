"""The pull-request report (.ci/report, `make report`) in a tiny project, on a branch that changes a param."""

import subprocess

import pytest

from tests.dvc_repo import ROOT, ci, copy_repo, dvc, edit_params, git

# Slow: a re-run of the tiny project's evaluations and plots; the tiny project's worker is the fast tier's longest.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tiny_project, tmp_path_factory):
    """Branch `change` off `main`: evaluate.error_threshold raised, re-run and committed."""
    repo = copy_repo(tiny_project, tmp_path_factory.mktemp("report") / "project")
    git(repo, "branch", "-M", "main")
    git(repo, "checkout", "-qb", "change")
    edit_params(repo, {"evaluate.error_threshold": 10.0})  # every closed-loop step counts as valid
    dvc(repo, "repro")
    git(repo, "commit", "-qam", "raise the error threshold")
    return repo


def table_rows(report):
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in report.splitlines() if line[:1] == "|"]


def test_the_report_against_main_names_the_changed_param_metrics_and_figure(repo):
    result = ci(repo, "report")  # the default base: main
    assert result.returncode == 0, result.stdout + result.stderr
    report = (repo / "report.md").read_text()
    rows = table_rows(report)
    assert ["params.yaml", "evaluate.error_threshold", "0.05", "10.0"] in rows
    changed_metrics = {row[1] for row in rows if row[0] == "metrics/series/damped/metrics.json"}
    assert {"damped.gru.valid_steps", "damped.lstm.valid_steps", "damped.simple_rnn.valid_steps"} <= changed_metrics
    assert "plots/figures/damped/error.png (changed)" in report
    assert "plots/figures/damped/loss.png (changed)" not in report
    assert "![plots/figures/sunspots/loss.png](plots/figures/sunspots/loss.png)" in report


def test_the_report_against_the_workspace_itself_says_nothing_changed_and_links_to_plots_url(repo):
    result = ci(repo, "report", "HEAD", PLOTS_URL="https://example.com/raw/abc")
    assert result.returncode == 0, result.stdout + result.stderr
    report = (repo / "report.md").read_text()
    assert "No params changed." in report and "No metrics changed." in report
    assert "![plots/figures/damped/loss.png](https://example.com/raw/abc/plots/figures/damped/loss.png)" in report


def test_the_report_is_ignored_by_git():
    assert subprocess.run(["git", "check-ignore", "-q", "report.md"], cwd=ROOT).returncode == 0
