"""Held-out values decide nothing: the real `dvc` CLI on a copy of the tiny project. A file of its own, so
that `make test`'s two workers run it and tests/test_pipeline.py side by side once the project is built
(tests/conftest.py)."""

import json

import pytest

from tests.dvc_repo import ALL, MODELS, copy_repo, dvc, restore, snapshot, stages_run


@pytest.fixture(scope="module")
def repo(tiny_project, tmp_path_factory):
    return copy_repo(tiny_project, tmp_path_factory.mktemp("holdout") / "project")


def test_nothing_held_out_reaches_training_tuning_or_scaling(repo):
    """Edit only held-out sunspot numbers: the data before the cut, every weight, history, tuning record and
    scaling statistic stay the same bytes, no training runs again, and the held-out scores change."""
    csv = repo / "data/raw/sunspots.csv"
    original = csv.read_text()
    before = snapshot(repo)
    lines = original.splitlines()
    assert lines[-40].startswith("1969,")
    edited = lines[:-40] + [f"{line.split(',')[0]},{float(line.split(',')[1]) * 2 + 1}" for line in lines[-40:]]
    try:
        csv.write_text("\n".join(edited) + "\n")
        assert set(json.loads(dvc(repo, "status", "--json").stdout)) == {"data@sunspots"}
        ran = set(stages_run(dvc(repo, "repro")))  # baselines@ and evaluate@ choose again here
        # The tuning, which the held-out file never reaches, too: every stage that chooses has run again.
        forced = set(stages_run(dvc(repo, "repro", "--force", "--single-item", *sorted(ALL("tune", series=["sunspots"])))))
        after = snapshot(repo)
        chosen = {kind: json.loads((repo / f"metrics/series/sunspots/{kind}metrics.json").read_text())["sunspots"]
                  for kind in ("", "tuned/")}
    finally:
        csv.write_text(original)
        restore(repo)
    assert ran == {"data@sunspots", "baselines@sunspots", "evaluate@sunspots", "evaluate_tuned@sunspots",
                   "plots@sunspots", "report", *ALL("forecast", "forecast_tuned", series=["sunspots"])}
    assert forced == ALL("tune", series=["sunspots"])
    changed = {path for path in before if before[path] != after.get(path)}
    fitted = ("data/sunspots/fit.csv", "data/sunspots/protocol.json", "data/sunspots/scaling.json",
              "data/sunspots/windows.npz", "models/", "/history/", "/tune/", "baselines/baselines.json")
    assert not [path for path in changed if any(part in path for part in fitted)]
    assert "data/sunspots/holdout.csv" in changed
    assert "metrics/series/sunspots/metrics.json" in changed and "metrics/series/sunspots/tuned.json" in changed
    for kind, metrics in chosen.items():  # the same best network and baseline, on other held-out scores
        committed = json.loads(before[f"metrics/series/sunspots/{kind}metrics.json"])["sunspots"]
        for key in ("network", "baseline"):
            assert metrics["yardstick"][key] == committed["yardstick"][key]
        assert metrics["yardstick"]["baseline_score"] != committed["yardstick"]["baseline_score"]
        assert [metrics[m]["selection_rmse"] for m in MODELS] == [committed[m]["selection_rmse"] for m in MODELS]
    assert not [path for path in changed if "damped" in path]
    assert "up to date" in dvc(repo, "status").stdout
