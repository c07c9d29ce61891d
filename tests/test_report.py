"""metrics/report.md from metrics built by evaluate's own functions on made-up seeds."""

import copy
import re

import numpy as np

from stages.evaluate import HEADLINE, ROLLING, compare_models, summarize
from stages.report import render


def metrics_for(score_by_model, held_out=40, confidence=0.95):
    """metrics.json and seeds.json as evaluate writes them, every metric but the verdicts' score constant; with a
    hold-out, each model's loss per origin its mean score squared plus noise of its own (no pair differs in time
    unless their scores do)."""
    metric = "rolling_rmse" if held_out else "rmse"
    per_seed = {
        name: {f"seed_{i}": {**{m: 0.5 for m in HEADLINE + (ROLLING if held_out else ())}, metric: r}
               for i, r in enumerate(values)}
        for name, values in score_by_model.items()
    }
    protocol = {"held_out": held_out, "horizon": 11, "step": 1}
    rng = np.random.default_rng(5)
    losses = {name: list(np.mean(values) ** 2 + rng.random(30) * 1e-3)
              for name, values in score_by_model.items()} if held_out else {}
    metrics = {
        "comparisons": compare_models(score_by_model, losses, protocol, confidence),
        **{name: {"n_params": 1, **summarize(list(per_seed[name].values()), confidence)} for name in score_by_model},
        "protocol": {"values": 309, "held_out": held_out, "verdict_metric": metric,
                     "closed_loop": {"first_x": 1969, "last_x": 2008, "steps": 40},
                     "one_step": {"first_x": 1969, "last_x": 2008, "steps": 40},
                     "rolling": {"horizon": 11, "step": 1, "origins": 30, "validation_origins": 15, "first_x": 1969,
                                 "last_x": 2008}},
        "classical": {"ar": {"rmse": 0.15, "mae": 0.1, "mase": 1.5, "one_step_rmse": 0.05, "one_step_mase": 0.5,
                             "validation_rmse": 0.12, "rolling_rmse": 0.15, "rolling_mase": 1.5}},
    }
    best = min(score_by_model, key=lambda name: metrics[name][metric])
    metrics["yardstick"] = {
        "metric": metric, "baseline": "ar", "baseline_score": 0.15, "baseline_mase": 1.5, "network": best,
        "network_score": metrics[best][metric], "network_ci_low": metrics[best][f"{metric}_ci_low"],
        "network_ci_high": metrics[best][f"{metric}_ci_high"], "network_mase": 0.5,
        "p_seed_better": 1.0, "p_seed_better_ci_low": 0.7, "p_seed_better_ci_high": 1.0,
    }
    if held_out:
        metrics["yardstick"]["origins"] = {"origins": 30, "lags": 10, "mean_difference": -0.01, "statistic": -3.0,
                                           "p_value": 0.001, "usable": True, "reason": None}
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
    assert "| gru better than lstm | " in report and "**gru better than lstm**" in report  # both tests, then both
    assert "**simple_rnn better than lstm**" in report
    assert "| no detectable difference with 10 seeds | " in report and "**no detectable difference**" in report
    assert "| gru vs lstm: gru better than lstm |" in report  # beside the tutorial's claim
    assert "no verdict can be reached" not in report
    assert "](../plots/figures/sunspots/forecast.png)" in report and "](../plots/figures/sunspots/error.png)" in report
    assert "## Series sunspots" in report and "the last 40 held out before anything was fitted" in report
    assert "The verdicts cover 10 seeds; 30 origins in 1969–2008" in report
    assert "- at the tutorial's settings: lowest mean rolling-origin RMSE over the held-out origins gru" in report
    assert "- **gru better than ar** (at the tutorial's settings): gru mean rolling-origin RMSE" in report
    assert "Across seeds: gru better than ar; across origins: gru better than ar (DM -3, p = 0.001)." in report
    assert "| ar | 0.15 | 1.5 | 0.15 | 1.5 | 0.05 | 0.12 |" in report


def test_without_a_hold_out_the_verdicts_are_across_seeds_alone(default_params):
    rng = np.random.default_rng(0)
    rmse = {"gru": 0.1 + rng.random(10) * 0.01, "lstm": 0.3 + rng.random(10) * 0.01}
    report = render(params_for(default_params, rmse, list(range(10))), metrics_for(rmse, held_out=0))
    assert "**gru better than lstm**" in report and "across origins" not in report.split("## Series sunspots")[1]
    assert "- at the tutorial's settings: lowest mean closed-loop RMSE gru" in report
    assert "horizon.png" not in report


def test_too_few_seeds_are_said_to_decide_nothing(default_params):
    rmse = {"gru": [0.1, 0.11, 0.12, 0.13], "lstm": [0.3, 0.31, 0.32, 0.33], "simple_rnn": [0.5, 0.6, 0.7, 0.8]}
    report = render(params_for(default_params, rmse, [0, 1, 2, 3]), metrics_for(rmse))
    assert "With 4 seed(s) per model no verdict can be reached" in report and "Set at least 5 seeds" in report
    assert report.count("| no detectable difference with 4 seeds |") == 3  # every pair, across seeds
    assert not re.search(r"\*\*[a-z_]+ better than [a-z_]+\*\*", report.split("### Verdicts")[1])  # so no verdict


def test_without_a_gru_and_an_lstm_the_tutorial_claim_has_nothing_to_compare(default_params):
    rmse = {"gru": [0.1, 0.2, 0.3, 0.4, 0.5], "simple_rnn": [0.1, 0.2, 0.3, 0.4, 0.6]}
    report = render(params_for(default_params, rmse, [0, 1, 2, 3, 4]), metrics_for(rmse))
    assert "(no GRU and LSTM in params.yaml to compare)" in report
    assert "no verdict can be reached" not in report  # 2 models: 4 seeds would already do
