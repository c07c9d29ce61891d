"""`make bench` and `make bench-cluster` in tiny versions, so that a change to the pipeline cannot break them unseen.

A tiny benchmark still runs every `dvc repro` it times, cold and warm: the whole pipeline about five times,
minutes even with one model, 2 epochs and 2 seeds. So the whole runs are in the slow tier and the cluster
tier; the fast tier runs the workers that compare the stages' own functions with the tutorial's way, and
checks the bench's parts against the stages in dvc.yaml.
"""

import argparse
import fnmatch
import json
import re
import socket
import subprocess
import sys

import pytest

from benchmarks.bench import HEADING, PARTS, run_worker
from tests.dvc_repo import ROOT, dvc, environment, one_series

TINY = ["--epochs", "2", "--seeds", "2", "--models", "gru", "--points", "40",
        "-S", "tune.candidates=2", "-S", "tune.rungs=[1, 2]", "-S", "tune.seeds=[100]"]
SECONDS = r"-?\d+\.\d+ m?s"  # a projection can fall below 0 on a busy machine


def run_bench(module, output, *options):
    result = subprocess.run([sys.executable, "-m", module, *TINY, *options, "--output", str(output)], cwd=ROOT,
                            env=environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return output.read_text()


@pytest.mark.parametrize("kind", ["_baseline", "_pipeline"])
def test_a_worker_trains_and_forecasts_the_tutorials_curve(kind, tmp_path):
    result = run_worker(kind, "gru", argparse.Namespace(epochs=2, points=40), jax_cache=tmp_path)
    assert result["fit_s"] > 0 and result["loop_s"] > 0
    assert 0 < result["rmse"] < 1  # the curve's values lie in [-1, 1]


def test_every_stage_is_in_one_part_and_the_tutorials_part_is_what_evaluate_damped_needs():
    names = dvc(ROOT, "stage", "list", "--name-only").stdout.split()
    parts = {part: {n for n in names if any(fnmatch.fnmatchcase(n, glob) for glob in globs)}
             for part, globs in PARTS.items()}
    assert sorted(n for stages in parts.values() for n in stages) == sorted(names)
    assert parts["tutorial"] == set(re.findall(r'"([^"]+)"', dvc(ROOT, "dag", "--dot", "evaluate@damped").stdout))


@pytest.mark.slow
def test_the_tiny_bench_writes_every_part_and_keeps_the_cluster_section(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(f"an earlier run\n{HEADING}\n\nthe cluster's numbers\n")
    text = run_bench("benchmarks.bench", output)
    assert text.startswith("# Benchmarks: the tutorial's Keras way vs the pipeline")
    assert text.endswith(f"\n{HEADING}\n\nthe cluster's numbers\n")
    measured = rf"\| — \| {SECONDS} \| {SECONDS} \|"  # no tutorial counterpart; cold, warm
    for part in ("tutorial's settings on its curve, forced up to evaluate@damped", "sunspots", "tuning",
                 "plots and report", "of which baselines"):
        assert re.search(rf"\| {re.escape(part)} \(.*: \d+% / \d+% of the whole \| ({SECONDS}|—) \| {SECONDS} "
                         rf"\| {SECONDS} \|", text), part
    assert re.search(rf"\| `dvc repro --force`, the whole: .* {measured}", text)
    assert re.search(rf"\| train@damped-gru stage, 2 seeds vs tutorial fit × 2 \| {SECONDS} \| {SECONDS} \|", text)
    assert re.search(r"\| seconds \| \d+\.\d \| \d+\.\d \|", text)  # the seeds curve: 1 and 2 seeds
    assert re.search(r"\| gru \| \d\.\d\de-\d\d / \d\.\d\de-\d\d \|", text)  # the final losses


@pytest.mark.cluster
def test_the_tiny_cluster_bench_replaces_its_section(tmp_path):
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        pytest.skip(f"needs a network namespace with loopback only (found {names}): run `make test-cluster`")
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(f"the bench's numbers\n\n{HEADING}\n\nan earlier cluster run\n")
    # The damped series alone: the cluster bench times train@damped-* and whole runs, whatever the series.
    text = run_bench("benchmarks.cluster", output, "-S", f"series={json.dumps(one_series('damped')['series'])}")
    assert text.startswith(f"the bench's numbers\n\n{HEADING}\n") and "an earlier cluster run" not in text
    assert re.search(rf"\| `dvc repro --force`, 1 models × 2 seeds \| {SECONDS} \| {SECONDS} \| \*\*\d+\.\d\d×\*\*",
                     text)
    assert re.search(rf"\| `dvc repro -f -s train@damped-gru`, 2 seeds \| {SECONDS} \| {SECONDS} \|", text)
    assert re.search(r"Per-task overhead on the cluster: \*\*\d+\.\d ms\*\*", text)
    assert re.search(rf"\| `dvc repro -f` \|( {SECONDS} \|){{5}}$", text, re.MULTILINE)  # the projection


def test_the_rolling_origin_benchmark_runs_on_a_tiny_model():
    """python -m benchmarks.rolling, tiny: one model of 4 units, 2 seeds; every row of its table measured."""
    result = subprocess.run([sys.executable, "-m", "benchmarks.rolling", "--seeds", "2", "--units", "4", "--models",
                             "gru"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[2].startswith("| forecast@sunspots-gru: 2 seeds × 45 origins × H = 11, one call | ")
    assert rows[3].startswith("| baselines@sunspots: every baseline from every origin of both spans")
    assert all(re.search(r"\d+\.\d+ m?s", row) for row in rows[2:])
