import pytest

from stages.params import SERIES_DEFAULTS, ParamsError, check_length, load_params, split_point, validate

SEEDS = "a list of distinct integers from 0 to 715827881, at least one"


def test_defaults_are_valid(default_params):
    assert validate(default_params) == []


def test_split_point_is_keras_validation_split():
    assert split_point(180, 0.1) == 162
    assert split_point(10, 0.25) == 7


@pytest.mark.parametrize(
    "section, key, value, expected",
    [
        ("train", "epochs", -5, "train.epochs = -5: must be an integer >= 1"),
        ("train", "epochs", 10.5, "train.epochs = 10.5: must be an integer >= 1"),
        ("train", "epochs", True, "train.epochs = True: must be an integer >= 1"),
        ("train", "epochs", "10", "train.epochs = '10': must be an integer >= 1"),
        ("train", "epochs", [1, 2], "train.epochs = [1, 2]: must be an integer >= 1"),
        ("train", "optimizer", "adamw", "train.optimizer = 'adamw': must be one of sgd, adam, rmsprop"),
        ("train", "learning_rate", float("nan"), "train.learning_rate = nan: must be a number > 0"),
        ("train", "schedule", "linear", "train.schedule = 'linear': must be one of constant, cosine"),
        ("train", "shuffle", "yes", "train.shuffle = 'yes': must be true or false"),
        ("signal", "tau", 0, "signal.tau = 0: must be a number > 0"),
        ("windows", "val_fraction", 1.0, "windows.val_fraction = 1.0: must be a number > 0 and < 1"),
        ("plots", "dpi", 5, "plots.dpi = 5: must be an integer from 10 to 1200"),
        ("train", "seeds", [], f"train.seeds = []: must be {SEEDS}"),
        ("train", "seeds", [0, 1, 1], f"train.seeds = [0, 1, 1]: must be {SEEDS}"),
        ("train", "seeds", [0, -1], f"train.seeds = [0, -1]: must be {SEEDS}"),
        ("train", "seeds", [0, True], f"train.seeds = [0, True]: must be {SEEDS}"),
        ("train", "seeds", 3, f"train.seeds = 3: must be {SEEDS}"),
        ("train", "seeds", [715827882], f"train.seeds = [715827882]: must be {SEEDS}"),
        ("evaluate", "confidence", 95, "evaluate.confidence = 95: must be a number > 0 and < 1"),
        ("evaluate", "alpha", 0, "evaluate.alpha = 0: must be a number > 0 and < 1"),
        ("baselines", "criterion", "hqic", "baselines.criterion = 'hqic': must be one of aic, bic"),
        ("baselines", "ar_max_lag", -1, "baselines.ar_max_lag = -1: must be an integer from 0 to 10000"),
    ],
)
def test_a_bad_value_names_key_value_and_what_is_allowed(default_params, section, key, value, expected):
    default_params[section][key] = value
    assert validate(default_params) == [expected]


def test_unknown_cell_in_a_model(default_params):
    default_params["models"]["gru"]["cell"] = "transformer"
    assert validate(default_params) == ["models.gru.cell = 'transformer': must be one of gru, lstm, simple_rnn"]


def test_missing_key_and_unknown_key_with_suggestion(default_params):
    del default_params["train"]["epochs"]
    default_params["train"]["learnig_rate"] = 0.1
    problems = validate(default_params)
    assert "train.epochs: missing; must be an integer >= 1" in problems
    assert any("train.learnig_rate: unknown key (did you mean train.learning_rate?)" in p for p in problems)


def test_every_problem_is_reported_at_once(default_params):
    default_params["train"]["epochs"] = 0
    default_params["plots"]["dpi"] = "high"
    default_params["models"]["lstm"]["units"] = -1
    del default_params["evaluate"]
    assert len(validate(default_params)) == 4


def test_model_names_must_be_usable_as_file_and_stage_names(default_params):
    default_params["models"]["My Model"] = {"cell": "gru", "units": 4}
    assert any("models.My Model: a name must match" in p for p in validate(default_params))


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("holdout", -1, "series.sunspots.holdout = -1: must be an integer >= 0"),
        ("scale", "minmax", "series.sunspots.scale = 'minmax': must be one of none, standard"),
        ("csv", "/etc/passwd", "series.sunspots.csv = '/etc/passwd': must be a path relative to the project"),
        ("csv", "../x.csv", "series.sunspots.csv = '../x.csv': must be a path relative to the project"),
        ("column", "", "series.sunspots.column = '': must be a non-empty string"),
        ("horizon", 0, "series.sunspots.horizon = 0: must be null or an integer >= 1"),
        ("holdot", 3, "series.sunspots.holdot: unknown key (did you mean series.sunspots.holdout?)"),
        ("season", 1, "series.sunspots.season = 1: must be null or an integer from 2 to 10000"),
    ],
)
def test_a_bad_series_entry_names_series_key_and_what_is_allowed(default_params, key, value, expected):
    default_params["series"]["sunspots"][key] = value
    assert [problem[: len(expected)] for problem in validate(default_params)] == [expected]


def test_a_series_needs_a_file_and_a_column_and_nothing_else(default_params):
    default_params["series"]["mine"] = {"csv": "data/raw/mine.csv", "column": "value", "holdout": 24}
    assert validate(default_params) == []
    del default_params["series"]["mine"]["column"]
    assert validate(default_params) == ["series.mine.column: missing; must be a non-empty string"]


@pytest.mark.parametrize("name", ["My Series", "sun-spots", "1700s", ""])
def test_a_series_name_must_name_a_stage(default_params, name):
    default_params["series"][name] = {"csv": "data/raw/sunspots.csv", "column": "SUNACTIVITY"}
    assert any(p.startswith(f"series.{name}: a name must match") for p in validate(default_params))


def test_the_tuning_reference_is_checked_like_train(default_params):
    default_params["tune"]["reference"]["optimizer"] = "adamw"
    assert validate(default_params) == ["tune.reference.optimizer = 'adamw': must be one of sgd, adam, rmsprop"]


def entry(**keys):
    return {**SERIES_DEFAULTS, "csv": "a.csv", "column": "y", **keys}


@pytest.mark.parametrize(
    "n_values, keys, windows, expected_start",
    [
        (200, {}, (200, 0.1), "series.s: 200 values, 0 held out, leave 200 to fit: too few for windows.length = 200"),
        (309, {"holdout": 309}, (20, 0.1), "series.s.holdout = 309: must be < the series' 309 values"),
        (309, {"holdout": 288}, (20, 0.1), "series.s: 309 values, 288 held out, leave 21 to fit: too few"),
        (200, {}, (20, 1e-17), "windows.val_fraction = 1e-17: leaves no validation window out of the 180 of series s"),
        (200, {}, (20, 0.999), "windows.val_fraction = 0.999: leaves no training window out of the 180 of series s"),
        (200, {"horizon": 180}, (20, 0.1), "series.s.horizon = 180: must be null or <= 179"),
        (309, {"holdout": 40, "horizon": 41}, (20, 0.1), "series.s.horizon = 41: must be null or <= 40 (the held-out"),
        (1_000_000, {}, (5_000, 0.1), "windows.length = 5000 with series s"),
        (309, {"holdout": 40, "rolling_horizon": 26}, (20, 0.1), "series.s.rolling_horizon = 26: must be null or <= 25: "
         "the rolling-origin score needs one origin in the validation span (25 values: windows.val_fraction = 0.1"),
        (200, {"rolling_horizon": 5}, (20, 0.1), "series.s.rolling_horizon = 5: must be null without a hold-out"),
    ],
)
def test_a_series_too_short_for_its_windows_and_hold_out(n_values, keys, windows, expected_start):
    problems = check_length("s", n_values, entry(**keys), *windows)
    assert len(problems) == 1 and problems[0].startswith(expected_start), problems


def test_boundaries_that_are_allowed():
    assert check_length("s", 200, entry(horizon=179), 20, 1 / 180 + 1e-9) == []
    assert check_length("s", 309, entry(holdout=287, horizon=287), 20, 0.5) == []  # 22 to fit: 2 windows
    assert check_length("s", 309, entry(holdout=40, rolling_horizon=25), 20, 0.1) == []  # the whole validation span


def test_the_ar_baseline_sees_no_more_than_a_window(default_params):
    default_params["baselines"]["ar_max_lag"] = 21
    assert validate(default_params) == ["baselines.ar_max_lag = 21: must be <= windows.length = 20 "
                                        "(an AR baseline sees no more of the past than a network's window)"]
    default_params["baselines"]["ar_max_lag"] = 20
    assert validate(default_params) == []


def test_load_params_raises_one_error_listing_all_problems(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("signal: {tau: -1}\n")
    with pytest.raises(ParamsError) as error:
        load_params(path)
    message = str(error.value)
    assert "signal.tau = -1: must be a number > 0" in message
    assert "windows: missing section" in message


@pytest.mark.parametrize("text, expected", [("a: [1,\n", "not valid YAML"), ("- 1\n", "must hold a mapping")])
def test_load_params_rejects_what_is_not_a_params_mapping(tmp_path, text, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=expected):
        load_params(path)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "params.yaml")


def test_an_unknown_section_gets_a_suggestion(default_params):
    default_params["plot"] = {"dpi": 100}
    assert validate(default_params) == [
        "plot: unknown key (did you mean plots?); allowed: signal, series, windows, train, models, tune, evaluate, plots, "
        "baselines"
    ]
