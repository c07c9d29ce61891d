"""The real `dvc` CLI on a copy of the project in a temporary git repository, with tiny settings."""

import json

import pytest
import yaml

from stages.evaluate import HEADLINE
from tests.dvc_repo import MODELS, TINY, copy_repo, dvc, edit_params, leaf_keys, restore, snapshot, stages_run

SEEDS = TINY["train"]["seeds"]
TUNED = ("tune", "tuned", "forecast_tuned")  # the tuned comparison's per-model stages


def ALL(*stages):  # noqa: N802
    """Every model's stage of each kind: ALL("train") = {"train@gru", "train@lstm", "train@simple_rnn"}."""
    return {f"{s}@{m}" for s in stages for m in MODELS}


@pytest.fixture(scope="module")
def repo(tiny_project, tmp_path_factory):
    return copy_repo(tiny_project, tmp_path_factory.mktemp("pipeline") / "project")


def test_repro_writes_every_output(repo):
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert sorted(metrics) == sorted(["baselines", *MODELS, "comparisons"])
    assert [metrics[m]["n_params"] for m in MODELS] == [5201, 6761, 1721]
    assert set(metrics["baselines"]) == {"zero", "persistence", "window_mean"}
    assert set(metrics["comparisons"]) == {"gru_vs_lstm", "gru_vs_simple_rnn", "lstm_vs_simple_rnn"}
    per_seed = json.loads((repo / "metrics/seeds.json").read_text())
    for name in MODELS:
        statistics = ("", "_median", "_std", "_min", "_max", "_trim_mean", "_ci_low", "_ci_high")
        assert set(metrics[name]) == {"n_params"} | {metric + s for metric in HEADLINE for s in statistics}
        assert list(per_seed[name]) == [f"seed_{seed}" for seed in SEEDS]
        for seed in SEEDS:
            history = (repo / f"metrics/history/{name}/seed_{seed}.csv").read_text().splitlines()
            assert history[0] == "epoch,loss,val_loss" and len(history) == 1 + 4
            forecast = (repo / f"metrics/forecast/{name}/seed_{seed}.csv").read_text().splitlines()
            assert forecast[0] == "step,x,truth,prediction" and len(forecast) == 1 + 60 - 10 - 1
            one_step = (repo / f"metrics/one_step/{name}/seed_{seed}.csv").read_text().splitlines()
            assert one_step[0] == "window,x,truth,prediction" and len(one_step) == 1 + 5
            assert (repo / f"models/{name}/seed_{seed}.npz").stat().st_size > 0
    for figure in ("signal", "loss", "forecast", "rmse", "error"):
        assert (repo / f"plots/{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (repo / "metrics/report.md").read_text()
    assert report.count("no detectable difference with 2 seeds") == 8  # 3 pairs and the claim, tuned and not
    assert "Set at least 5 seeds" in report and "(one training run of each)" in report
    assert "up to date" in dvc(repo, "status").stdout
    assert stages_run(dvc(repo, "repro")) == []


def test_every_model_is_tuned_on_the_same_candidates_with_the_same_budget(repo):
    tunings = {m: json.loads((repo / f"metrics/tune/{m}.json").read_text()) for m in MODELS}
    designs = {m: [{k: c[k] for k in ("optimizer", "learning_rate", "schedule")} for c in t["candidates"]]
               for m, t in tunings.items()}
    assert designs["gru"] == designs["lstm"] == designs["simple_rnn"]
    assert len(designs["gru"]) == TINY["tune"]["candidates"]
    assert designs["gru"][0] == {"optimizer": "sgd", "learning_rate": 0.01, "schedule": "constant"}  # the tutorial's
    trainings = {m: sum(len(scores) for rung in t["rungs"] for scores in rung["seed_scores"].values())
                 for m, t in tunings.items()}
    assert trainings == {m: 4 for m in MODELS}  # 3 candidates, then the best 1; one selection seed
    for name, tuning in tunings.items():
        assert tuning["budget"]["trainings"] == 4 and tuning["selection_seeds"] == TINY["tune"]["seeds"]
        first, last = tuning["rungs"]
        assert [first["epochs"], last["epochs"]] == TINY["tune"]["rungs"]
        scores = {c["index"]: c["scores"][0] for c in tuning["candidates"]}
        assert last["trained"] == [min(scores, key=lambda i: (scores[i], i))]  # the first rung's best goes on
        assert tuning["chosen"]["index"] == last["trained"][0]
        assert tuning["chosen"]["train"]["epochs"] == TINY["tune"]["rungs"][-1]
        for seed in SEEDS:  # the winner, again on the evaluation seeds, for the last rung's epochs
            history = (repo / f"metrics/tuned/history/{name}/seed_{seed}.csv").read_text().splitlines()
            assert len(history) == 1 + TINY["tune"]["rungs"][-1]
            assert (repo / f"metrics/tuned/forecast/{name}/seed_{seed}.csv").exists()
            assert (repo / f"models_tuned/{name}/seed_{seed}.npz").stat().st_size > 0
    tuned = json.loads((repo / "metrics/tuned.json").read_text())["tuned"]
    assert set(tuned) == {*MODELS, "comparisons"}
    assert set(tuned["gru"]) == {"rmse", "rmse_ci_low", "rmse_ci_high"}
    assert set(tuned["comparisons"]["gru_vs_lstm"]) == {"p_holm", "p_better"}
    assert (repo / "plots/tuning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_states_the_selection_rule_before_the_tuned_numbers(repo):
    report = (repo / "metrics/report.md").read_text()
    rule = report.index("## The selection rule for the tuned comparison (fixed before the numbers)")
    assert rule < report.index("## Verdicts at the tutorial's settings") < report.index("## Verdicts of the tuned models")
    assert "**4 trainings** (2.5 full trainings of 4 epochs) per architecture" in report
    assert "the 1 selection seeds (100)" in report and "train.seeds: 0, 1, none of them a selection seed" in report
    assert "**What is held out, and what is not**: only the seeds" in report
    assert "| ours, tuned |" in report and "## Every candidate's selection score" in report
    assert "| 0 | sgd 0.01 constant |" in report and "](../plots/tuning.png)" in report
    for name in MODELS:
        chosen = json.loads((repo / f"metrics/tune/{name}.json").read_text())["chosen"]
        assert f"| {name} | candidate {chosen['index']} |" in report


@pytest.mark.parametrize(
    "code, stale",
    [
        ("stages/report.py", {"report"}),
        ("stages/plots.py", {"plots"}),
        ("stages/tune.py", {*ALL("tune", "tuned")}),
        ("stages/tuned.py", {*ALL("tuned")}),
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
    assert "plots/forecast_band/gru.csv" in result.stdout and "plots/rmse.png" in result.stdout


def seed_files(repo, seed):
    """Every file of one seed, as bytes."""
    files = [f"models/{m}/seed_{seed}.npz" for m in MODELS] + [
        f"metrics/{kind}/{m}/seed_{seed}.csv" for kind in ("history", "forecast", "one_step") for m in MODELS
    ]
    return {path: (repo / path).read_bytes() for path in files}


def test_a_seed_gives_the_same_files_whatever_other_seeds_are_listed(repo):
    committed = seed_files(repo, 1)
    committed_first = seed_files(repo, 0)
    try:
        edit_params(repo, {"train.seeds": [1]})
        dvc(repo, "repro", *(f"forecast@{name}" for name in MODELS))  # a seed's files: no evaluate or plots
        alone = seed_files(repo, 1)
        edit_params(repo, {"train.seeds": [0, 1, 2]})
        result = dvc(repo, "repro")
        assert seed_files(repo, 1) == alone == committed
        assert seed_files(repo, 0) == committed_first
        # Adding seed 2 keeps seeds 0 and 1's files; every model's stages re-run (they train seeds together).
        assert set(stages_run(result)) == {"validate", "evaluate", "evaluate_tuned", "plots", "report"} | ALL(
            "train", "forecast", "tuned", "forecast_tuned"
        )
    finally:
        restore(repo)
    assert "up to date" in dvc(repo, "status").stdout


def test_forced_rerun_in_another_process_order_gives_identical_bytes(repo):
    before = snapshot(repo)
    # Every stage once: the models trained in another order, with another hash seed, then the rest.
    trains = [f"train@{name}" for name in reversed(MODELS)]
    forecasts = [f"forecast@{name}" for name in MODELS]
    others = ["validate", "generate", "windows", *forecasts, "evaluate", "plots", "report"]
    assert stages_run(dvc(repo, "repro", "--force", "--single-item", *trains, PYTHONHASHSEED="12345")) == trains
    assert stages_run(dvc(repo, "repro", "--force", "--single-item", *others, PYTHONHASHSEED="54321")) == others
    after = snapshot(repo)
    assert sorted(after) == sorted(before)
    assert [path for path in before if before[path] != after[path]] == []


# Stages each params key makes stale directly (`dvc status`). `validate` reads the whole file, so
# every key makes it stale too; its output never changes while params are valid, so it never
# makes anything downstream re-run (test_a_params_change_reruns_exactly_the_stale_stages).
PER_MODEL = {
    f"models.{m}.{k}": {f"{s}@{m}" for s in ("train", "forecast", *TUNED)} | {"evaluate", "evaluate_tuned", "plots", "report"}
    for m in MODELS
    for k in ("cell", "units")
}
DIRECTLY_STALE = {
    "signal.tau": {"generate"},
    "signal.x_max_pi": {"generate"},
    "signal.n_points": {"generate", *ALL("forecast", "tune", "forecast_tuned")},
    "windows.length": {"windows", *ALL("forecast", "tune", "forecast_tuned"), "evaluate", "evaluate_tuned", "plots"},
    "windows.val_fraction": {"windows"},
    **{f"train.{k}": ALL("train", "tune", "tuned") for k in ("backend", "batch_size", "shuffle")},
    "train.epochs": {*ALL("train"), "report"},
    # candidate 0 of the search is the comparison's own setting
    **{f"train.{k}": {*ALL("train", "tune"), "report"} for k in ("optimizer", "learning_rate", "schedule")},
    "train.seeds": {*ALL("train", "forecast", "tuned", "forecast_tuned"), "evaluate", "evaluate_tuned", "plots",
                    "report"},
    **PER_MODEL,
    **{f"tune.{k}": ALL("tune") for k in ("seeds", "candidates", "design_seed", "optimizers", "learning_rate",
                                          "schedules", "rungs", "eta")},
    "forecast.horizon": ALL("forecast", "tune", "forecast_tuned"),
    "evaluate.error_threshold": {"evaluate", "evaluate_tuned", "plots"},
    "evaluate.confidence": {"evaluate", "evaluate_tuned", "report"},
    "evaluate.alpha": {"report"},
    "plots.dpi": {"plots"},
    # No stage reads them until the per-series data stages exist (stages/baselines.py has no dvc.yaml stage yet).
    **{key: set() for key in ("baselines.season.sunspots", "baselines.ar_max_lag", "baselines.criterion")},
}
# What each key re-runs: the stale stages and everything downstream of them.
DOWNSTREAM = {
    "generate": {"windows", *ALL("train", "forecast", *TUNED), "evaluate", "evaluate_tuned", "plots", "report"},
    "windows": {*ALL("train", "forecast", *TUNED), "evaluate", "evaluate_tuned", "plots", "report"},
    **{f"train@{m}": {f"forecast@{m}", "evaluate", "plots", "report"} for m in MODELS},
    **{f"forecast@{m}": {"evaluate", "plots", "report"} for m in MODELS},
    **{f"tune@{m}": {f"tuned@{m}", f"forecast_tuned@{m}", "evaluate_tuned", "plots", "report"} for m in MODELS},
    **{f"tuned@{m}": {f"forecast_tuned@{m}", "evaluate_tuned", "report"} for m in MODELS},
    **{f"forecast_tuned@{m}": {"evaluate_tuned", "report"} for m in MODELS},
    "evaluate": {"plots", "report"},
    "evaluate_tuned": {"report"},
    "plots": set(),
    "report": set(),
}
OTHER_VALUE = {
    "cell": {"gru": "lstm", "lstm": "gru", "simple_rnn": "gru"},
    "optimizer": {"sgd": "adam"},
    "schedule": {"constant": "cosine"},
    "backend": {"jax": "tensorflow"},
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


def test_every_params_key_makes_exactly_its_stages_stale(repo):
    original = (repo / "params.yaml").read_text()
    keys = dict(leaf_keys(yaml.safe_load(original)))
    assert set(keys) == set(DIRECTLY_STALE), "a params key without an entry in the stale-stage table"
    try:
        for key, value in keys.items():
            edit_params(repo, {key: other_value(key, value)})
            stale = set(json.loads(dvc(repo, "status", "--json").stdout))
            assert stale == {"validate"} | DIRECTLY_STALE[key], key
            (repo / "params.yaml").write_text(original)
    finally:
        (repo / "params.yaml").write_text(original)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"plots.dpi": 50}, ["validate", "plots"]),
        (
            {"models.lstm.units": 8},
            ["validate", "train@lstm", "forecast@lstm", "tune@lstm", "tuned@lstm", "forecast_tuned@lstm",
             "evaluate_tuned", "evaluate", "plots", "report"],
        ),
    ],
)
def test_a_params_change_reruns_exactly_the_stale_stages(repo, change, expected):
    key = next(iter(change))
    reruns = DIRECTLY_STALE[key] | set().union(*(DOWNSTREAM[s] for s in DIRECTLY_STALE[key]))
    assert reruns | {"validate"} == set(expected)
    try:
        edit_params(repo, change)
        assert stages_run(dvc(repo, "repro")) == expected
    finally:
        restore(repo)
    assert "up to date" in dvc(repo, "status").stdout


@pytest.mark.slow
def test_models_trained_on_tensorflow_forecast_on_jax(repo):
    try:
        edit_params(repo, {"train.backend": "tensorflow", "train.seeds": [0]})  # one seed: TensorFlow is slow to start
        result = dvc(repo, "repro", "evaluate")  # not the tuning: the same trainer, three times the time
        metrics = json.loads((repo / "metrics/metrics.json").read_text())
    finally:
        restore(repo)
    assert "up to date" in dvc(repo, "status").stdout
    assert set(stages_run(result)) == {"validate", "evaluate"} | ALL("train", "forecast")
    for name in MODELS:
        assert metrics[name]["n_params"] == [5201, 6761, 1721][MODELS.index(name)]
        assert 0 < metrics[name]["rmse"] < 10


@pytest.mark.parametrize(
    "change, message",
    [
        ({"train.epochs": -1}, "train.epochs = -1: must be an integer >= 1"),
        ({"windows.length": 60}, "windows.length = 60: must be < signal.n_points - 1 = 59"),
        ({"windows.val_fraction": 0.999}, "windows.val_fraction = 0.999: leaves no training window"),
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
