"""metrics/report.md from metrics built by evaluate's own functions on made-up seeds."""

import copy

import numpy as np

from stages.evaluate import HEADLINE, compare_models, summarize
from stages.report import render


def metrics_for(rmse_by_model, confidence=0.95):
    """metrics.json and seeds.json as evaluate writes them, every metric but rmse constant."""
    per_seed = {
        name: {f"seed_{i}": {**{metric: 0.5 for metric in HEADLINE}, "rmse": r} for i, r in enumerate(values)}
        for name, values in rmse_by_model.items()
    }
    baseline = {"rmse": 0.2, "mae": 0.15, "max_abs_error": 0.5, "correlation": 0.0, "frequency_error": 1.0}
    metrics = {
        "baselines": {"zero": baseline, "persistence": baseline, "window_mean": baseline},
        "comparisons": compare_models(rmse_by_model, confidence),
        **{name: {"n_params": 1, **summarize(list(per_seed[name].values()), confidence)} for name in rmse_by_model},
        "protocol": {"values": 309, "held_out": 40, "closed_loop": {"first_x": 1969, "last_x": 2008, "steps": 40},
                     "one_step": {"first_x": 1969, "last_x": 2008, "steps": 40}},
        "classical": {"ar": {"rmse": 0.15, "mae": 0.1, "mase": 1.5, "one_step_rmse": 0.05, "one_step_mase": 0.5,
                             "validation_rmse": 0.12}},
    }
    best = min(rmse_by_model, key=lambda name: metrics[name]["rmse"])
    metrics["yardstick"] = {
        "baseline": "ar", "baseline_rmse": 0.15, "baseline_mase": 1.5, "network": best,
        **{f"network_{k}": metrics[best][k] for k in ("rmse", "rmse_ci_low", "rmse_ci_high", "mase")},
        "p_seed_better": 1.0, "p_seed_better_ci_low": 0.7, "p_seed_better_ci_high": 1.0,
    }
    return {"sunspots": {"metrics": metrics, "per_seed": per_seed}}


def params_for(default_params, models, seeds):
    params = copy.deepcopy(default_params)
    params["models"] = {name: {"cell": name, "units": 40} for name in models}
    params["train"]["seeds"] = seeds
    return params


def test_a_clear_difference_gets_a_verdict_and_a_tie_does_not(default_params):
    rng = np.random.default_rng(0)
    rmse = {"gru": 0.1 + rng.random(10) * 0.01, "lstm": 0.3 + rng.random(10) * 0.01}
    rmse["simple_rnn"] = rmse["gru"][::-1] + 1e-9  # the same spread as gru: no detectable difference
    report = render(params_for(default_params, rmse, list(range(10))), metrics_for(rmse))
    assert "**gru better than lstm**" in report
    assert "**simple_rnn better than lstm**" in report
    assert "**no detectable difference with 10 seeds**" in report
    assert "| gru vs lstm: gru better than lstm |" in report  # beside the tutorial's claim
    assert "no verdict can be reached" not in report
    assert "| zero | 0.2 |" in report and "](../plots/figures/sunspots/forecast.png)" in report
    assert "## Series sunspots" in report and "the last 40 held out before anything was fitted" in report
    assert "- at the tutorial's settings: lowest mean closed-loop RMSE gru" in report
    assert "- **gru better than ar** (at the tutorial's settings): gru mean closed-loop RMSE" in report
    assert "| ar | 0.15 | 0.1 | 1.5 | 0.05 | 0.5 | 0.12 |" in report


def test_too_few_seeds_are_said_to_decide_nothing(default_params):
    rmse = {"gru": [0.1, 0.11, 0.12, 0.13], "lstm": [0.3, 0.31, 0.32, 0.33], "simple_rnn": [0.5, 0.6, 0.7, 0.8]}
    report = render(params_for(default_params, rmse, [0, 1, 2, 3]), metrics_for(rmse))
    assert "With 4 seed(s) per model no verdict can be reached" in report and "Set at least 5 seeds" in report
    assert report.count("no detectable difference with 4 seeds") == 4  # 3 pairs and the tutorial's row


def test_without_a_gru_and_an_lstm_the_tutorial_claim_has_nothing_to_compare(default_params):
    rmse = {"gru": [0.1, 0.2, 0.3, 0.4, 0.5], "simple_rnn": [0.1, 0.2, 0.3, 0.4, 0.6]}
    report = render(params_for(default_params, rmse, [0, 1, 2, 3, 4]), metrics_for(rmse))
    assert "(no GRU and LSTM in params.yaml to compare)" in report
    assert "no verdict can be reached" not in report  # 2 models: 4 seeds would already do
