"""The real `dvc` CLI on a copy of the project in a temporary git repository, with tiny settings."""

import contextlib
import json

import pandas as pd
import pytest
import yaml

from stages.evaluate import HEADLINE, ROLLING
from tests.dvc_repo import (
    ALL, PER_PAIR, ROOT, MODELS, SERIES, TINY, copy_repo, dvc, edit_params, leaf_keys, restore, snapshot, stages_run,
)

SEEDS = TINY["train"]["seeds"]


@pytest.fixture(scope="module")
def repo(tiny_project, tmp_path_factory):
    return copy_repo(tiny_project, tmp_path_factory.mktemp("pipeline") / "project")


def test_repro_writes_every_output(repo):
    for series, length in (("damped", 60), ("sunspots", 309)):
        where = repo / "metrics/series" / series
        metrics = json.loads((where / "metrics.json").read_text())[series]  # keyed by series: `dvc metrics diff`
        assert sorted(metrics) == sorted([*MODELS, "comparisons", "protocol", "classical", "yardstick"])
        classical = {"naive", "mean", "drift", "ar", "ets", "theta"} | ({"seasonal_naive"} if series == "sunspots" else set())
        assert set(metrics["classical"]) == classical and metrics["yardstick"]["baseline"] in classical
        assert [metrics[m]["n_params"] for m in MODELS] == [5201, 6761, 1721]
        assert set(metrics["comparisons"]) == {"gru_vs_lstm", "gru_vs_simple_rnn", "lstm_vs_simple_rnn"}
        assert metrics["protocol"]["values"] == length
        per_seed = json.loads((where / "seeds.json").read_text())
        steps, one_steps = (49, 5) if series == "damped" else (40, 40)  # sunspots: the 40 held-out years
        headline, by_h = (HEADLINE, set()) if series == "damped" else (HEADLINE + ROLLING, {"rolling_rmse_by_h"})
        for name in MODELS:
            statistics = ("", "_median", "_std", "_min", "_max", "_trim_mean", "_ci_low", "_ci_high")
            assert set(metrics[name]) == {"n_params"} | by_h | {metric + s for metric in headline for s in statistics}
            assert list(per_seed[name]) == [f"seed_{seed}" for seed in SEEDS]
            for seed in SEEDS:
                history = (where / f"history/{name}/seed_{seed}.csv").read_text().splitlines()
                assert history[0] == "epoch,loss,val_loss" and len(history) == 1 + 4
                forecast = (where / f"forecast/{name}/seed_{seed}.csv").read_text().splitlines()
                assert forecast[0] == "step,x,truth,prediction" and len(forecast) == 1 + steps
                one_step = (where / f"one_step/{name}/seed_{seed}.csv").read_text().splitlines()
                assert one_step[0] == "window,x,truth,prediction" and len(one_step) == 1 + one_steps
                assert (repo / f"models/{series}/train/{name}/seed_{seed}.npz").stat().st_size > 0
                rolling = pd.read_csv(where / f"rolling/{name}/seed_{seed}.csv")
                origins = {"damped": {"validation": 1}, "sunspots": {"validation": 16, "holdout": 30}}[series]
                assert rolling.groupby("span")["origin"].nunique().to_dict() == origins
        figures = {"series", "loss", "forecast", "forecast_tuned", "rmse", "error", "tuning"}
        figures |= {"horizon"} if series == "sunspots" else set()
        assert {path.stem for path in (repo / f"plots/figures/{series}").iterdir()} == figures
        for figure in figures:
            assert (repo / f"plots/figures/{series}/{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    held_out = (repo / "metrics/series/sunspots/forecast/gru/seed_0.csv").read_text().splitlines()
    assert held_out[1].startswith("1,1969,") and held_out[-1].startswith("40,2008,")
    report = (repo / "metrics/report.md").read_text()
    # damped: 3 pairs and the claim, tuned and not; sunspots: the test across seeds of 3 pairs, tuned and not
    assert report.count("no detectable difference with 2 seeds") == 14
    assert "The verdicts cover 2 seeds; 30 origins in 1969–2008" in report
    assert "## Series damped" in report and "## Series sunspots" in report
    assert "Set at least 5 seeds" in report and "(one training run of each)" in report
    assert "up to date" in dvc(repo, "status").stdout
    assert stages_run(dvc(repo, "repro")) == []


def test_every_model_is_tuned_on_the_same_candidates_with_the_same_budget(repo):
    tunings = {(s, m): json.loads((repo / f"metrics/series/{s}/tune/{m}.json").read_text())
               for s in SERIES for m in MODELS}
    designs = {key: [{k: c[k] for k in ("optimizer", "learning_rate", "schedule")} for c in t["candidates"]]
               for key, t in tunings.items()}
    assert len({json.dumps(d) for d in designs.values()}) == 1  # the same candidates for every series and model
    design = designs["damped", "gru"]
    assert len(design) == TINY["tune"]["candidates"]
    assert design[0] == {"optimizer": "sgd", "learning_rate": 0.01, "schedule": "constant"}  # the tutorial's
    trainings = {key: sum(len(scores) for rung in t["rungs"] for scores in rung["seed_scores"].values())
                 for key, t in tunings.items()}
    assert set(trainings.values()) == {4}  # 3 candidates, then the best 1; one selection seed
    for (series, name), tuning in tunings.items():
        assert tuning["budget"]["trainings"] == 4 and tuning["selection_seeds"] == TINY["tune"]["seeds"]
        first, last = tuning["rungs"]
        assert [first["epochs"], last["epochs"]] == TINY["tune"]["rungs"]
        scores = {c["index"]: c["scores"][0] for c in tuning["candidates"]}
        assert last["trained"] == [min(scores, key=lambda i: (scores[i], i))]  # the first rung's best goes on
        assert tuning["chosen"]["index"] == last["trained"][0]
        assert tuning["chosen"]["train"]["epochs"] == TINY["tune"]["rungs"][-1]
        for seed in SEEDS:  # the winner, again on the evaluation seeds, for the last rung's epochs
            history = (repo / f"metrics/series/{series}/tuned/history/{name}/seed_{seed}.csv").read_text().splitlines()
            assert len(history) == 1 + TINY["tune"]["rungs"][-1]
            assert (repo / f"metrics/series/{series}/tuned/forecast/{name}/seed_{seed}.csv").exists()
            assert (repo / f"models/{series}/tuned/{name}/seed_{seed}.npz").stat().st_size > 0
    tuned = json.loads((repo / "metrics/series/sunspots/tuned.json").read_text())["sunspots"]["tuned"]
    assert set(tuned) == {*MODELS, "comparisons"}
    assert set(tuned["gru"]) == {"rolling_rmse", "rolling_rmse_ci_low", "rolling_rmse_ci_high"}  # the verdicts' score
    assert set(tuned["comparisons"]["gru_vs_lstm"]) == {"p_holm", "p_better"}


def test_the_report_states_the_selection_rule_before_the_tuned_numbers(repo):
    report = (repo / "metrics/report.md").read_text()
    rule = report.index("## The selection rule for the tuned comparison (fixed before the numbers)")
    for series in SERIES:
        section = report.index(f"## Series {series}")
        assert rule < section < report.index("### Verdicts at the tutorial's settings", section)
        assert report.index("### Verdicts at the tutorial's settings", section) < report.index(
            "### Verdicts of the tuned models", section)
    assert "**4 trainings** (2.5 full trainings of 4 epochs) per architecture" in report
    assert "the 1 selection seeds (100)" in report and "train.seeds: 0, 1, none of them a selection seed" in report
    assert "nothing held out (the tutorial's protocol)" in report and "the last 40 held out before anything" in report
    assert "| ours, on sunspots, tuned |" in report and "### Every candidate's selection score" in report
    assert "| 0 | sgd 0.01 constant |" in report and "](../plots/figures/sunspots/tuning.png)" in report
    for series in SERIES:
        for name in MODELS:
            chosen = json.loads((repo / f"metrics/series/{series}/tune/{name}.json").read_text())["chosen"]
            assert f"| {name} | candidate {chosen['index']} |" in report


@pytest.mark.parametrize(
    "code, stale",
    [
        ("stages/report.py", {"report"}),
        ("stages/plots.py", ALL("plots")),
        ("stages/tune.py", ALL("tune", "tuned")),
        ("stages/tuned.py", ALL("tuned")),
        ("stages/data.py", ALL("data", "baselines", "forecast", "tune", "tuned", "forecast_tuned", "evaluate",
                               "evaluate_tuned", "plots")),
        ("stages/baselines.py", ALL("baselines")),
        ("stages/scores.py", ALL("data", "baselines", "forecast", "tune", "tuned", "forecast_tuned", "evaluate",
                                 "evaluate_tuned", "plots")),
    ],
)
def test_a_code_change_makes_exactly_its_stages_stale(repo, code, stale):
    path = repo / code
    original = path.read_text()
    try:
        path.write_text(original + "\n# changed\n")
        assert set(json.loads(dvc(repo, "status", "--json").stdout)) == stale
    finally:
        path.write_text(original)


def test_plots_show_draws_the_bands_and_figures(repo):
    result = dvc(repo, "plots", "show", "--json")
    assert "plots/forecast_band/sunspots/gru.csv" in result.stdout
    assert "plots/figures/damped/rmse.png" in result.stdout


def seed_files(repo, seed):
    """Every file of one seed on the sunspots, as bytes."""
    files = [f"models/sunspots/train/{m}/seed_{seed}.npz" for m in MODELS]
    for kind in ("history", "forecast", "one_step"):
        files += [f"metrics/series/sunspots/{kind}/{m}/seed_{seed}.csv" for m in MODELS]
    return {path: (repo / path).read_bytes() for path in files}


@pytest.mark.slow  # trains every model three times
def test_a_seed_gives_the_same_files_whatever_other_seeds_are_listed(repo):
    forecasts = ALL("forecast", series=["sunspots"])  # what else train.seeds makes stale: the stale-key test
    committed, committed_first = seed_files(repo, 1), seed_files(repo, 0)
    try:
        edit_params(repo, {"train.seeds": [1]})
        dvc(repo, "repro", *forecasts)
        alone = seed_files(repo, 1)
        edit_params(repo, {"train.seeds": [0, 1, 2]})
        result = dvc(repo, "repro", *forecasts)
        assert seed_files(repo, 1) == alone == committed
        assert seed_files(repo, 0) == committed_first
        # Adding seed 2 keeps seeds 0 and 1's files; every model's stages re-run (they train seeds together).
        assert set(stages_run(result)) == {"validate"} | ALL("train", "forecast", series=["sunspots"])
    finally:
        restore(repo)
    assert "up to date" in dvc(repo, "status").stdout


@pytest.mark.slow  # every training again
def test_forced_rerun_in_another_process_order_gives_identical_bytes(repo):
    before = snapshot(repo)
    # Every stage once: the models trained in another order, with another hash seed, then the rest.
    trains = sorted(ALL("train"), reverse=True)
    others = ["validate", "generate", *sorted(ALL("data")), *sorted(ALL("forecast")), *sorted(ALL("evaluate")),
              *sorted(ALL("plots")), "report"]
    assert stages_run(dvc(repo, "repro", "--force", "--single-item", *trains, PYTHONHASHSEED="12345")) == trains
    assert stages_run(dvc(repo, "repro", "--force", "--single-item", *others, PYTHONHASHSEED="54321")) == others
    after = snapshot(repo)
    assert sorted(after) == sorted(before)
    assert [path for path in before if before[path] != after[path]] == []


# Stages each params key makes stale directly (`dvc status`). `validate` reads the whole file, so
# every key makes it stale too; its output never changes while params are valid, so it never
# makes anything downstream re-run (test_a_params_change_reruns_exactly_the_stale_stages).
PER_MODEL = {
    f"models.{m}.{k}": ALL(*PER_PAIR, models=[m]) | ALL("evaluate", "evaluate_tuned", "plots") | {"report"}
    for m in MODELS
    for k in ("cell", "units")
}
# data@ and baselines@ list the whole series.<s> entry (DVC refuses a listed key that is absent, and most are
# optional); every later stage reads what data@ resolved (protocol.json), so `season` re-runs no tuning.
PER_SERIES_KEY = {
    f"series.{s}.{k}": ALL("data", "baselines", series=[s]) | {"report"}
    for s in SERIES
    for k in yaml.safe_load((ROOT / "params.yaml").read_text())["series"][s]
}
DIRECTLY_STALE = {
    "signal.tau": {"generate"},
    "signal.x_max_pi": {"generate"},
    "signal.n_points": {"generate"},
    **PER_SERIES_KEY,
    "windows.length": ALL("data", "forecast", "tune", "forecast_tuned"),
    "windows.val_fraction": ALL("data"),
    **{f"train.{k}": ALL("train", "tune", "tuned") for k in ("backend", "batch_size", "shuffle")},
    # the comparison's own setting: a sweep of these re-tunes nothing (the search starts from tune.reference)
    **{f"train.{k}": {*ALL("train"), "report"} for k in ("epochs", "optimizer", "learning_rate", "schedule")},
    "train.seeds": ALL("train", "forecast", "tuned", "forecast_tuned", "evaluate", "evaluate_tuned", "plots")
    | {"report"},
    **PER_MODEL,
    **{f"tune.{k}": ALL("tune") for k in ("seeds", "candidates", "design_seed", "optimizers", "learning_rate",
                                          "schedules", "rungs", "eta", "reference.optimizer",
                                          "reference.learning_rate", "reference.schedule")},
    "evaluate.error_threshold": ALL("evaluate", "evaluate_tuned", "plots") | {"report"},
    "evaluate.confidence": ALL("evaluate", "evaluate_tuned") | {"report"},
    "evaluate.alpha": {"report"},
    "plots.dpi": ALL("plots"),
    **{f"baselines.{k}": ALL("baselines") for k in ("ar_max_lag", "criterion")},
}


def downstream(stage):
    """The stages a stage's new outputs make re-run (each series' chain stays in its series)."""
    if stage == "generate":
        return downstream("data@damped") | {"data@damped"}
    kind, _, where = stage.partition("@")
    series, _, model = where.partition("-")
    one, pair = {"series": [series]}, {"series": [series], "models": [model]}
    return {
        "data": ALL(*PER_PAIR, "baselines", "evaluate", "evaluate_tuned", "plots", **one) | {"report"},
        "baselines": ALL("evaluate", "evaluate_tuned", "plots", **one) | {"report"},
        "train": ALL("forecast", **pair) | ALL("evaluate", "plots", **one) | {"report"},
        "forecast": ALL("evaluate", "plots", **one) | {"report"},
        "tune": ALL("tuned", "forecast_tuned", **pair) | ALL("evaluate_tuned", "plots", **one) | {"report"},
        "tuned": ALL("forecast_tuned", **pair) | ALL("evaluate_tuned", "plots", **one) | {"report"},
        "forecast_tuned": ALL("evaluate_tuned", "plots", **one) | {"report"},
        "evaluate": ALL("plots", **one) | {"report"},
        "evaluate_tuned": {"report"},
        "plots": set(),
        "report": set(),
    }[kind]


OTHER_VALUE = {
    "cell": {"gru": "lstm", "lstm": "gru", "simple_rnn": "gru"},
    "optimizer": {"sgd": "adam"},
    "schedule": {"constant": "cosine"},
    "backend": {"jax": "tensorflow"},
    "scale": {"none": "standard", "standard": "none"},
    "csv": {"data/signal.csv": "data/raw/sunspots.csv", "data/raw/sunspots.csv": "data/signal.csv"},
    "column": {"y": "x", "SUNACTIVITY": "YEAR"},
    "x": {"x": "y", "YEAR": "SUNACTIVITY"},
    "criterion": {"aic": "bic"},
}
OTHER_LIST = {"tune.optimizers": ["adam"], "tune.schedules": ["cosine"], "tune.learning_rate": [0.002, 0.05]}


def other_value(key, value):
    leaf = key.rsplit(".", 1)[-1]
    if leaf in OTHER_VALUE:
        return OTHER_VALUE[leaf][value]
    if key in OTHER_LIST:
        return OTHER_LIST[key]
    if isinstance(value, bool):
        return not value
    if isinstance(value, list):
        return value + [max(value) + 1]  # seeds, rungs
    if value is None:
        return 5
    if key == "windows.val_fraction":
        return 0.2
    return value + 1 if isinstance(value, int) else value * 1.5


def stale_stages(repo):
    """What `dvc status` lists, asked of DVC's Python API: the same answer without starting the CLI, which
    would cost seconds for each of the ~60 keys."""
    from dvc.repo import Repo

    with contextlib.chdir(repo), Repo(".") as dvc_repo:  # stage names as the CLI prints them, from the root
        return set(dvc_repo.status())


def test_every_params_key_makes_exactly_its_stages_stale(repo):
    original = (repo / "params.yaml").read_text()
    keys = dict(leaf_keys(yaml.safe_load(original)))
    assert set(keys) == set(DIRECTLY_STALE), "a params key without an entry in the stale-stage table"
    try:
        for key, value in keys.items():
            edit_params(repo, {key: other_value(key, value)})
            stale = stale_stages(repo)
            assert stale == {"validate"} | DIRECTLY_STALE[key], key
            (repo / "params.yaml").write_text(original)
    finally:
        (repo / "params.yaml").write_text(original)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"plots.dpi": 50}, {"validate", "plots@damped", "plots@sunspots"}),
        pytest.param(  # retrains and re-tunes the LSTM on every series
            {"models.lstm.units": 8},
            {"validate", "report", *ALL(*PER_PAIR, models=["lstm"]), *ALL("evaluate", "evaluate_tuned", "plots")},
            marks=pytest.mark.slow,
        ),
        pytest.param(  # retrains and re-tunes every model on the sunspots
            {"series.sunspots.holdout": 30},
            {"validate", "data@sunspots", "report",
             *ALL(*PER_PAIR, "baselines", "evaluate", "evaluate_tuned", "plots", series=["sunspots"])},
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_params_change_reruns_exactly_the_stale_stages(repo, change, expected):
    key = next(iter(change))
    reruns = DIRECTLY_STALE[key] | set().union(*(downstream(s) for s in DIRECTLY_STALE[key]))
    assert reruns | {"validate"} == expected
    try:
        edit_params(repo, change)
        ran = stages_run(dvc(repo, "repro"))
        assert ran[0] == "validate" and set(ran) == expected
    finally:
        restore(repo)
    assert "up to date" in dvc(repo, "status").stdout


@pytest.mark.slow
def test_models_trained_on_tensorflow_forecast_on_jax(repo):
    try:
        edit_params(repo, {"train.backend": "tensorflow", "train.seeds": [0]})  # one seed: TensorFlow is slow to start
        result = dvc(repo, "repro", "evaluate@damped")  # not the tuning: the same trainer, three times the time
        metrics = json.loads((repo / "metrics/series/damped/metrics.json").read_text())["damped"]
    finally:
        restore(repo)
    assert "up to date" in dvc(repo, "status").stdout
    assert set(stages_run(result)) == {"validate", "evaluate@damped"} | ALL("train", "forecast", series=["damped"])
    for name in MODELS:
        assert metrics[name]["n_params"] == [5201, 6761, 1721][MODELS.index(name)]
        assert 0 < metrics[name]["rmse"] < 10


@pytest.mark.parametrize(
    "change, message",
    [
        ({"train.epochs": -1}, "train.epochs = -1: must be an integer >= 1"),
        ({"tune.reference.optimizer": "adamw"}, "tune.reference.optimizer = 'adamw': must be one of"),
        ({"series.sunspots.scale": "log"}, "series.sunspots.scale = 'log': must be one of none, standard"),
        ({"models.gru.cell": "transformer"}, "models.gru.cell = 'transformer': must be one of gru, lstm, simple_rnn"),
        ({"train.optimizer": "adamw"}, "train.optimizer = 'adamw': must be one of sgd, adam, rmsprop"),
        ({"train.learnig_rate": 0.1}, "did you mean train.learning_rate?"),
    ],
)
def test_bad_params_fail_before_any_work_and_keep_every_output(repo, change, message):
    original = (repo / "params.yaml").read_text()
    before = snapshot(repo)
    try:
        edit_params(repo, change)
        result = dvc(repo, "repro", check=False)
    finally:
        (repo / "params.yaml").write_text(original)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert stages_run(result) == ["validate"]
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    "change, edit_file, stage, message",
    [
        ({"series.sunspots.csv": "data/raw/none.csv"}, None, "validate",
         "series.sunspots.csv = 'data/raw/none.csv': no such file"),
        ({"series.sun-spots": {"csv": "data/raw/sunspots.csv", "column": "SUNACTIVITY"}}, None, "validate",
         "series.sun-spots: a name must match"),
        ({"series.sunspots.column": "SUNSPOTS"}, None, "data@sunspots",
         "series.sunspots.column = 'SUNSPOTS': no such column in data/raw/sunspots.csv; it has YEAR, SUNACTIVITY"),
        ({"series.sunspots.holdout": 309}, None, "data@sunspots",
         "series.sunspots.holdout = 309: must be < the series' 309 values"),
        ({"series.sunspots.holdout": 300}, None, "data@sunspots",
         "series.sunspots: 309 values, 300 held out, leave 9 to fit: too few for windows.length = 10"),
        ({}, ("1750,83.4", "1750,"), "data@sunspots",
         "series.sunspots.column = 'SUNACTIVITY': 1 value(s) in data/raw/sunspots.csv are missing"),
        ({}, ("1750,83.4", "1750,eighty"), "data@sunspots", "the first at data row 51 ('eighty')"),
        ({}, ("1750,83.4\n", ""), "data@sunspots", "series.sunspots.x: must rise in equal steps of 1; from data row 50 to 51 it goes from 1749 to 1751"),
    ],
)
def test_a_bad_series_stops_before_any_work_and_keeps_every_output(repo, change, edit_file, stage, message):
    original, csv = (repo / "params.yaml").read_text(), repo / "data/raw/sunspots.csv"
    original_csv = csv.read_text()
    before = snapshot(repo)
    try:
        edit_params(repo, change)
        if edit_file:
            assert edit_file[0] in original_csv
            csv.write_text(original_csv.replace(*edit_file, 1))
        result = dvc(repo, "repro", check=False)
    finally:
        (repo / "params.yaml").write_text(original)
        csv.write_text(original_csv)
    assert result.returncode != 0
    assert message in result.stderr and f"failed to reproduce '{stage}'" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    ran = stages_run(result)
    assert ran[-1] == stage and set(ran) <= {"validate", stage}  # validate runs where params changed
    after = snapshot(repo)
    after.pop("dvc.lock"), before.pop("dvc.lock")  # where validate passed, dvc.lock holds the params it checked
    assert after == before


def test_a_missing_key_is_reported_with_what_is_allowed(repo):
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    del params["train"]["epochs"]
    try:
        (repo / "params.yaml").write_text(yaml.safe_dump(params))
        result = dvc(repo, "repro", check=False)
    finally:
        (repo / "params.yaml").write_text(original)
    assert result.returncode != 0 and "train.epochs: missing; must be an integer >= 1" in result.stderr


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("train.epochs=abc", "train.epochs = 'abc': must be an integer >= 1"),
        ("train.epochs=[1,2]", "train.epochs = [1, 2]: must be an integer >= 1"),
        ("plots.dpi='300'", "plots.dpi = '300': must be an integer from 10 to 1200"),
    ],
)
def test_exp_run_set_param_values_of_the_wrong_type_fail_cleanly(repo, assignment, message):
    original = (repo / "params.yaml").read_text()
    before = snapshot(repo)
    try:
        result = dvc(repo, "exp", "run", "-S", assignment, check=False)
    finally:
        (repo / "params.yaml").write_text(original)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(repo) == before
