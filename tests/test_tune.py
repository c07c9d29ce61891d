"""The tuning's design, budget and successive halving (stages/tune.py), and its statistics."""

import math

import pytest

from stages.executor import executor
from stages.params import validate
from stages.statistics import expected_best, tuning_curve
from stages.tune import best, budget, candidates, mean_score, rung_sizes, scorer, search


def test_the_design_is_fixed_starts_with_the_tutorial_setting_and_stays_in_the_space(default_params):
    tune = default_params["tune"]
    drawn = candidates(tune)
    assert drawn == candidates(tune)  # drawn once, the same every time (and for every model)
    assert len(drawn) == tune["candidates"] == 8
    assert drawn[0] == {"optimizer": "sgd", "learning_rate": 0.01, "schedule": "constant"}  # the tutorial's
    low, high = tune["learning_rate"]
    for candidate in drawn[1:]:
        assert candidate["optimizer"] in tune["optimizers"] and candidate["schedule"] in tune["schedules"]
        assert low <= candidate["learning_rate"] <= high
        assert candidate["learning_rate"] == float(f"{candidate['learning_rate']:.3g}")
    assert {c["optimizer"] for c in drawn} == {"sgd", "adam"} and {c["schedule"] for c in drawn} == {"constant", "cosine"}
    assert candidates({**tune, "design_seed": 1})[1:] != drawn[1:]
    assert candidates({**tune, "candidates": 1}) == drawn[:1]
    assert candidates({**tune, "reference": {**tune["reference"], "learning_rate": 0.05}})[0]["learning_rate"] == 0.05


def test_the_default_budget_is_twelve_full_trainings_per_architecture(default_params):
    assert budget(default_params["tune"]) == {"trainings": 28, "full_trainings": 12.0, "rung_sizes": [8, 4, 2]}


@pytest.mark.parametrize(
    "n, rungs, eta, sizes", [(8, 3, 2, [8, 4, 2]), (9, 3, 3, [9, 3, 1]), (3, 4, 2, [3, 1, 1, 1]), (1, 1, 2, [1])]
)
def test_rung_sizes_keep_one_in_eta_and_at_least_one(n, rungs, eta, sizes):
    assert rung_sizes(n, rungs, eta) == sizes


def test_halving_keeps_the_lowest_scores_ties_to_the_lower_index_diverged_last():
    scores = {0: 0.3, 1: math.inf, 2: 0.1, 3: 0.3, 4: 0.2, 5: math.inf}
    assert best(scores, 3) == [0, 2, 4]
    assert best(scores, 4) == [0, 2, 3, 4]
    assert best(scores, 5) == [0, 1, 2, 3, 4]  # of two diverged, the lower index
    assert best({7: math.inf, 3: math.inf}, 1) == [3]


def test_a_diverged_seed_makes_the_selection_score_the_worst():
    assert mean_score({100: 0.1, 101: 0.3}) == 0.2
    assert mean_score({100: 0.1, 101: math.inf}) == math.inf


def test_expected_best_of_n_candidates():
    assert expected_best([3.0, 1.0, 2.0], 1) == 2.0  # the mean
    assert expected_best([3.0, 1.0, 2.0], 2) == pytest.approx(4 / 3)  # pairs: 1, 1, 2
    assert expected_best([3.0, 1.0, 2.0], 3) == 1.0  # the best
    assert tuning_curve([0.5, None, 0.1]) == [math.inf, pytest.approx(0.1 + 0.4 / 3), 0.1]


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("seeds", [9, 100], "tune.seeds = [9, 100]: must share no seed with train.seeds (9 in both)"),
        ("candidates", 0, "tune.candidates = 0: must be an integer from 1 to 1024"),
        ("optimizers", ["sgd", "adamw"],
         "tune.optimizers = ['sgd', 'adamw']: must be a list of distinct values from sgd, adam, rmsprop, at least one"),
        ("schedules", [], "tune.schedules = []: must be a list of distinct values from constant, cosine, at least one"),
        ("learning_rate", [0.1, 0.001],
         "tune.learning_rate = [0.1, 0.001]: must be a list [low, high] of two numbers, 0 < low <= high"),
        ("rungs", [500, 250], "tune.rungs = [500, 250]: must be a list of increasing integers >= 1, at least one"),
        ("eta", 1, "tune.eta = 1: must be an integer from 2 to 16"),
    ],
)
def test_bad_tune_params_name_key_value_and_what_is_allowed(default_params, key, value, expected):
    default_params["tune"][key] = value
    assert [problem[: len(expected)] for problem in validate(default_params)] == [expected]


ONE_LOOP = {"horizon": 49, "origins": {"validation": [11], "holdout": []}}  # the tutorial's: one loop chooses


def test_a_diverging_candidate_scores_worst_and_the_search_trains_the_same_budget(small_windows):
    """The real search: a tiny SimpleRNN, two candidates at an SGD rate that must diverge."""
    from stages.generate import damped_oscillation

    spec = {"cell": "simple_rnn", "units": 4}
    train = {"backend": "jax", "batch_size": 10, "shuffle": True, "optimizer": "sgd", "learning_rate": 0.01,
             "schedule": "constant"}
    tune = {"seeds": [100, 101], "candidates": 3, "design_seed": 0, "optimizers": ["sgd"],
            "learning_rate": [1e4, 1e5], "schedules": ["constant"], "rungs": [2, 3], "eta": 2,
            "reference": {"optimizer": "sgd", "learning_rate": 0.01, "schedule": "constant"}}
    signal = damped_oscillation(5.0, 5, 60)
    with executor() as place:
        result = search("damped-simple_rnn", spec, train, tune, small_windows,
                        lambda: scorer(spec, signal, {"scale": "none"}, 10, ONE_LOOP), place)
    assert [c["scores"][0] is None for c in result["candidates"]] == [False, True, True]
    assert result["chosen"]["index"] == 0 and result["chosen"]["train"] == {**candidates(tune)[0], "epochs": 3}
    assert [rung["trained"] for rung in result["rungs"]] == [[0, 1, 2], [0]]
    trainings = sum(len(rung["trained"]) * len(tune["seeds"]) for rung in result["rungs"])
    assert trainings == result["budget"]["trainings"] == 8
