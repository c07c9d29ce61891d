"""A copy of the project in a temporary git repository, driven with the real `dvc` CLI."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("gru", "lstm", "simple_rnn")
SERIES = ("damped", "sunspots")
TINY = {
    "signal": {"n_points": 60},
    "windows": {"length": 10},
    "train": {"epochs": 4, "seeds": [0, 1]},
    "tune": {"candidates": 3, "rungs": [2, 4], "seeds": [100]},
    "baselines": {"ar_max_lag": 5},  # <= windows.length, with room to change it
}
OUTPUT_DIRS = ("data", "models", "metrics", "plots")
TUNED = ("tune", "tuned", "forecast_tuned")  # the tuned comparison's per-model stages
PER_PAIR = ("train", "forecast", *TUNED)
PER_SERIES = ("data", "baselines", "evaluate", "evaluate_tuned", "plots")


def ALL(*stages, series=SERIES, models=MODELS):  # noqa: N802
    """Every stage of each kind, per series (and model): ALL("train", series=["damped"]) = {"train@damped-gru", ...}."""
    return {f"{s}@{name}" if s in PER_SERIES else f"{s}@{name}-{m}"
            for s in stages for name in series for m in models}


def environment(**env):
    """This interpreter's environment first on PATH, as `make` does, plus env."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env}


def dvc(repo, *args, check=True, **env):
    """Run `dvc` in repo."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, env=environment(**env), capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ci(repo, script, *args, **env):
    """Run the script .ci/<script> in repo, as its make target does."""
    return subprocess.run(
        ["bash", f".ci/{script}", *args], cwd=repo, env=environment(**env), capture_output=True, text=True
    )


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def restore(repo):
    """Back to the last commit: params, dvc.lock and the outputs in git from git, the rest from
    the DVC cache (faster than `dvc repro`, which would re-run every stage with outputs in git)."""
    git(repo, "checkout", "-q", "HEAD", "--", ".")
    git(repo, "clean", "-fdq", "--", *OUTPUT_DIRS)
    dvc(repo, "checkout", "--force")


def copy_repo(source, target):
    """A copy of a make_repo project at target, with its git history, outputs and DVC cache: the
    same project as building it again, in a fraction of the time."""
    shutil.copytree(source, target, symlinks=True)
    return target


def stages_run(result):
    return re.findall(r"Running stage '([^']+)'", result.stdout)


def snapshot(repo):
    """Every output and dvc.lock, as bytes."""
    files = [repo / "dvc.lock"] + [p for d in OUTPUT_DIRS for p in sorted((repo / d).rglob("*"))]
    return {str(p.relative_to(repo)): p.read_bytes() for p in files if p.is_file() and p.name != ".gitignore"}


def edit_params(repo, changes):
    """Set dotted keys in params.yaml, e.g. {"train.epochs": 3}."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        section = params
        for parent in parents:
            section = section[parent]
        section[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def leaf_keys(mapping, prefix=""):
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def one_series(name="sunspots"):
    """Params for make_repo: the project with series `name` only, for tests whose point holds for any
    series: its stages alone, half the work of both (sunspots: a hold-out, scaling, a season)."""
    return {"series": {name: yaml.safe_load((ROOT / "params.yaml").read_text())["series"][name]}}


def make_repo(repo, params=()):
    """The project with tiny params (and `params`, dotted keys) in a new git repository at repo,
    reproduced once and committed."""
    shutil.copytree(ROOT / "stages", repo / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "data/raw", repo / "data/raw")
    shutil.copy(ROOT / "dvc.yaml", repo)
    shutil.copy(ROOT / "params.yaml", repo)
    shutil.copy(ROOT / "Makefile", repo)
    for ignores in (".gitignore", ".dvcignore"):  # the JAX cache (.cache/) stays out of git, as in the project
        shutil.copy(ROOT / ignores, repo)
    shutil.copytree(ROOT / ".ci", repo / ".ci")
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    dvc(repo, "init", "-q")
    edit_params(repo, {**{f"{s}.{k}": v for s, keys in TINY.items() for k, v in keys.items()}, **dict(params)})
    dvc(repo, "repro")
    shutil.copy(ROOT / ".dvc/config", repo / ".dvc/config")
    shutil.copytree(ROOT / ".dvc/plots", repo / ".dvc/plots")  # plot templates and the offline page
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tiny run")
    return repo
