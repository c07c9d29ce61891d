"""Every file git tracks under data/ (but data/raw/, the inputs), models/, metrics/ and plots/ is an output of a stage: a file
no stage writes (say, one left behind when a stage's outputs were renamed) would never be updated,
and nothing would say it is stale."""

import subprocess
from pathlib import PurePosixPath

from dvc.repo import Repo

from tests.dvc_repo import OUTPUT_DIRS, ROOT


def declared_outputs():
    """The outputs of every stage of dvc.yaml, foreach stages expanded, as DVC itself reads them."""
    with Repo(str(ROOT)) as repo:
        return {PurePosixPath(out.def_path) for stage in repo.index.stages for out in stage.outs}


def orphans(tracked, outputs):
    """The paths in tracked that are neither an output, nor inside an output directory, nor a .gitignore."""
    return [
        str(path)
        for path in map(PurePosixPath, tracked)
        if path.name != ".gitignore" and path not in outputs and outputs.isdisjoint(path.parents)
        and PurePosixPath("data/raw") not in path.parents  # the raw series: inputs, in git
    ]


def test_every_tracked_file_under_the_output_directories_is_a_stage_output():
    tracked = subprocess.run(
        ["git", "ls-files", "--", *OUTPUT_DIRS], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert tracked
    assert orphans(tracked, declared_outputs()) == []


def test_a_file_beside_an_output_directory_is_an_orphan():
    outputs = declared_outputs()
    files = ["metrics/series/damped/forecast/gru/seed_0.csv", "metrics/series/damped/forecast/gru.csv",
             "plots/figures/damped/rmse.png", "models/.gitignore", "metrics/metrics.json"]
    assert orphans(files, outputs) == ["metrics/series/damped/forecast/gru.csv", "metrics/metrics.json"]
