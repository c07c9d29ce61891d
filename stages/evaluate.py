"""Stages `evaluate@<series>` and `evaluate_tuned@<series>`: per-seed metrics (seeds.json), and per model their spread with
confidence intervals, the classical baselines and every pair of models compared (metrics/metrics.json).

Where a series has a hold-out, the verdicts are on the rolling-origin score over the held-out origins
(stages/scores.py): across seeds (each seed's score) and across origins (the seed-mean loss of each origin),
and the best network is the one with the lowest mean rolling-origin score over the validation origins, the
score the tuning and the best baseline are chosen by. Without one (the tutorial's protocol), the verdicts
are across seeds on the closed loop over the whole curve. Needs no model framework: parameter counts come
from the saved weight arrays.
"""

import itertools
import math

import numpy as np
import pandas as pd

from stages import scores, statistics
from stages.cli import run
from stages.files import load_json, load_npz, read_input, read_seeds, seed_path, write_json
from stages.forecast import load_series
from stages.params import load_params

SIGNIFICANT_DIGITS = 6
SPECTRUM_POINTS = 4096  # zero-padded FFT length: frequency steps ~2 % of the signal's at the defaults
# Metrics summarized across seeds (mean, median, spread, confidence interval); with a hold-out, ROLLING too.
HEADLINE = (
    "rmse", "mae", "max_abs_error", "valid_steps", "correlation", "frequency_error", "one_step_val_rmse",
    "mase", "one_step_mase", "selection_rmse",
)
ROLLING = ("rolling_rmse", "rolling_mae", "rolling_mase")
BY_H = {"median": np.median, "min": np.min, "max": np.max}  # across seeds, per horizon: the error-by-horizon figure


def rounded(value):
    """Few enough digits for `dvc metrics diff` to read, all of them reproducible."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def correlation(prediction, truth):
    """Pearson's r between forecast and truth; 0 for a constant forecast (it follows no shape)."""
    if np.ptp(prediction) == 0 or np.ptp(truth) == 0:
        return 0.0
    return float(np.corrcoef(prediction, truth)[0, 1])


def dominant_frequency(values, spacing):
    """Cycles per unit of x at the peak of the zero-padded spectrum, mean removed; 0 for a constant."""
    centered = values - np.mean(values)
    if np.ptp(centered) == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(centered, n=max(SPECTRUM_POINTS, len(values))))
    return float(np.fft.rfftfreq(len(spectrum) * 2 - 2, d=spacing)[np.argmax(spectrum)])


def closed_loop_metrics(x, truth, prediction, threshold):
    """Errors, the steps before |error| first exceeds threshold, and whether the shape is right:
    correlation with the truth and the relative error of the dominant frequency (1 for a flat line)."""
    error = np.abs(prediction - truth)
    exceeded = np.flatnonzero(error > threshold)
    spacing = (x[-1] - x[0]) / (len(x) - 1)
    truth_frequency, frequency = dominant_frequency(truth, spacing), dominant_frequency(prediction, spacing)
    # Relative to the truth's; a truth without oscillation (a horizon of a step or two) is matched only by none.
    frequency_error = abs(frequency - truth_frequency) / truth_frequency if truth_frequency else float(frequency != 0)
    return {
        "rmse": rounded(scores.rmse(truth, prediction)),
        "mae": rounded(scores.mae(truth, prediction)),
        "max_abs_error": rounded(np.max(error)),
        "valid_steps": int(exceeded[0]) if len(exceeded) else len(error),
        "correlation": rounded(correlation(prediction, truth)),
        "frequency_error": rounded(frequency_error),
    }


def verdict_metric(protocol):
    """What the verdicts compare: the rolling-origin RMSE over the held-out origins; without a hold-out (the
    tutorial's protocol), the closed loop over the whole curve."""
    return "rolling_rmse" if protocol["held_out"] else "rmse"


def rolling_metrics(rolling, scale):
    """The rolling-origin scores over the held-out origins: overall and per horizon h = 1 .. H."""
    rows = rolling[rolling["span"] == "holdout"]
    by_h = scores.by_horizon(rolling, "holdout", scale)
    return {
        "rolling_rmse": rounded(scores.rolling_score(rolling, "holdout")),
        "rolling_mae": rounded(scores.mae(rows["truth"], rows["prediction"])),
        "rolling_mase": rounded(scores.mase(rows["truth"], rows["prediction"], scale)),
        **{f"rolling_{metric}_by_h": [rounded(v) for v in values] for metric, values in by_h.items()},
    }


def seed_metrics(history, forecast, one_step, rolling, protocol, threshold, scale):
    """Every metric of one trained model. mase: scaled by the training part's in-sample (seasonal) naive error
    `scale` (stages/scores.py); selection_rmse: the rolling-origin score over the validation origins."""
    loop = closed_loop_metrics(
        forecast["x"].to_numpy(), forecast["truth"].to_numpy(), forecast["prediction"].to_numpy(), threshold
    )
    return {
        "train_loss": rounded(history["loss"].iloc[-1]),
        "val_loss": rounded(history["val_loss"].iloc[-1]),
        "one_step_val_rmse": rounded(scores.rmse(one_step["truth"], one_step["prediction"])),
        **loop,
        "mase": rounded(scores.mase(forecast["truth"], forecast["prediction"], scale)),
        "one_step_mase": rounded(scores.mase(one_step["truth"], one_step["prediction"], scale)),
        "selection_rmse": rounded(scores.rolling_score(rolling, "validation")),
        **(rolling_metrics(rolling, scale) if protocol["held_out"] else {}),
    }


def classical_metrics(closed_loop, one_step, rolling, validation_rmse, protocol, scale):
    """A classical baseline's scores: closed loop, one-step and rolling origin over the networks' spans, and
    the validation-span score that chose the best of them (stages/baselines.py)."""
    truth, prediction = closed_loop["truth"], closed_loop["prediction"]
    return {
        "rmse": rounded(scores.rmse(truth, prediction)),
        "mae": rounded(scores.mae(truth, prediction)),
        "mase": rounded(scores.mase(truth, prediction, scale)),
        "one_step_rmse": rounded(scores.rmse(one_step["truth"], one_step["prediction"])),
        "one_step_mase": rounded(scores.mase(one_step["truth"], one_step["prediction"], scale)),
        "validation_rmse": rounded(validation_rmse),
        **(rolling_metrics(rolling, scale) if protocol["held_out"] else {}),
    }


def origin_losses(rolling_by_seed):
    """Per held-out origin, the mean over seeds of each seed's loss there (stages/scores.py)."""
    per_seed = [scores.origin_losses(rolling, "holdout") for rolling in rolling_by_seed]
    return [math.fsum(values) / len(values) for values in zip(*per_seed)]


def lags(protocol):
    """The test across origins' lags: consecutive origins share H - 1 steps at step 1, fewer at larger steps."""
    return math.ceil(protocol["horizon"] / protocol["step"]) - 1


def origins_test(losses_a, losses_b, protocol):
    """statistics.diebold_mariano with its numbers rounded (None where the test is unusable)."""
    test = statistics.diebold_mariano(losses_a, losses_b, lags(protocol))
    return {k: rounded(v) if isinstance(v, float) else v for k, v in test.items()}


def best_network(per_seed):
    """The network with the lowest mean selection score (rolling origin over the validation span) across seeds."""
    mean = {name: math.fsum(m["selection_rmse"] for m in seeds.values()) / len(seeds)
            for name, seeds in per_seed.items()}
    return min(mean, key=lambda name: (mean[name], name))


def yardstick(metrics, per_seed, classical, best_baseline, losses, protocol, confidence):
    """Is the best network better than the best classical baseline? Both chosen by the same score on the
    validation span, never on the scored part. Across seeds, the network is better if the whole CI of its mean
    score lies below the baseline's (a baseline is deterministic, the network varies by seed), worse if above;
    p_seed_better: the share of seeds below the baseline, with its Clopper-Pearson CI. With a hold-out, across
    origins too: the test of the network's seed-mean loss per origin against the baseline's."""
    network, metric = best_network(per_seed), verdict_metric(protocol)
    scaled = "rolling_mase" if protocol["held_out"] else "mase"  # the same errors, scaled
    target = classical[best_baseline][metric]
    values = [m[metric] for m in per_seed[network].values()]
    better = sum(value < target for value in values)
    low, high = statistics.proportion_ci(better, len(values), confidence)
    across_origins = {"origins": origins_test(losses[network], losses[best_baseline], protocol)} if losses else {}
    return {
        "metric": metric, "baseline": best_baseline, "baseline_score": target,
        "baseline_mase": classical[best_baseline][scaled],
        "network": network,
        "network_score": metrics[network][metric], "network_ci_low": metrics[network][f"{metric}_ci_low"],
        "network_ci_high": metrics[network][f"{metric}_ci_high"],
        "network_mase": metrics[network][scaled],
        "p_seed_better": rounded(better / len(values)), "p_seed_better_ci_low": rounded(low),
        "p_seed_better_ci_high": rounded(high), **across_origins,
    }


def summarize(per_seed, confidence):
    """Per headline metric, across seeds: <metric> is the mean (the key a single run had, so `dvc
    metrics diff` lines up with older commits), <metric>_<statistic> the median, std, min, max,
    trimmed mean and the bootstrap CI of the mean."""
    summary = {}
    for metric in [m for m in HEADLINE + ROLLING if m in per_seed[0]]:
        for statistic, value in statistics.summary([m[metric] for m in per_seed], confidence).items():
            summary[metric if statistic == "mean" else f"{metric}_{statistic}"] = rounded(value)
    return summary


def compare_models(score_by_model, losses, protocol, confidence):
    """Every pair of models on the verdict metric across seeds, with Holm's correction across the pairs; with a
    hold-out, also across origins (the seed-mean loss per origin), Holm-corrected across the pairs too."""
    pairs = list(itertools.combinations(score_by_model, 2))
    results = [statistics.compare(score_by_model[a], score_by_model[b], confidence) for a, b in pairs]
    adjusted = statistics.holm([result["p_value"] for result in results])
    comparisons = {
        f"{a}_vs_{b}": {k: rounded(v) for k, v in {**result, "p_holm": p}.items()}
        for (a, b), result, p in zip(pairs, results, adjusted)
    }
    if losses:
        tests = [origins_test(losses[a], losses[b], protocol) for a, b in pairs]
        usable = [i for i, test in enumerate(tests) if test["usable"]]
        for i, p in zip(usable, statistics.holm([tests[i]["p_value"] for i in usable]) if usable else []):
            tests[i]["p_holm"] = rounded(p)
        for (a, b), test in zip(pairs, tests):
            comparisons[f"{a}_vs_{b}"]["origins"] = test
    return comparisons


def protocol_summary(protocol, series, forecast, one_step):
    """What the scores are about, for the report: the series' size, its hold-out, the x range of each span,
    the rolling origins (H, step, how many, the x of the first and last sample they forecast)."""
    span = lambda table: {"first_x": table["x"].iloc[0].item(), "last_x": table["x"].iloc[-1].item(),  # noqa: E731
                          "steps": len(table)}
    x = series["x"]
    held = protocol["origins"]["holdout"]
    rolling = {"horizon": protocol["horizon"], "step": protocol["step"], "origins": len(held),
               "validation_origins": len(protocol["origins"]["validation"]),
               **({"first_x": x.iloc[held[0]].item(), "last_x": x.iloc[held[-1] + protocol["horizon"] - 1].item()}
                  if held else {})}
    return {"values": protocol["values"], "held_out": protocol["held_out"], "verdict_metric": verdict_metric(protocol),
            "closed_loop": span(forecast), "one_step": span(one_step), "rolling": rolling}


def headline(metrics, names):
    """A few keys for `dvc metrics diff`: each model's mean verdict score and its CI, each pair's
    Holm-corrected p and P(A better). Under one key, "tuned": `make exps` shows only <series>.<model>.rmse columns."""
    metric = metrics["protocol"]["verdict_metric"]
    models = {name: {metric + k: metrics[name][metric + k] for k in ("", "_ci_low", "_ci_high")} for name in names}
    pairs = {pair: {k: c[k] for k in ("p_holm", "p_better")} for pair, c in metrics["comparisons"].items()}
    return {"tuned": {**models, "comparisons": pairs}}


def error_threshold(threshold, stats):
    """evaluate.error_threshold in the series' units: as given for an unscaled series, times the
    training part's standard deviation for a standardized one."""
    return threshold if stats["scale"] == "none" else threshold * stats["std"]


def main(argv):
    """argv: the series, its data, the stage's inputs, seeds.json and metrics.json; optionally a last
    path for headline(metrics). trained: train or tuned (the stages that made the models)."""
    (series_name, trained, fit_path, holdout_path, protocol_path, scaling_path, baselines_dir, models_dir, history_dir,
     forecast_dir, one_step_dir, rolling_dir, seeds_path, metrics_path, *headline_path) = argv
    params = load_params()
    evaluate, seeds = params["evaluate"], params["train"]["seeds"]
    series, protocol, stats = load_series(fit_path, holdout_path, protocol_path, scaling_path, f"data@{series_name}")
    threshold = error_threshold(evaluate["error_threshold"], stats)
    fitted = f"baselines@{series_name}"
    summary = read_input(f"{baselines_dir}/baselines.json", load_json, fitted)
    tables = {kind: {name: read_input(f"{baselines_dir}/{kind}/{name}.csv", pd.read_csv, fitted)
                     for name in summary["baselines"]} for kind in ("closed_loop", "one_step", "rolling")}
    classical = {
        name: classical_metrics(tables["closed_loop"][name], tables["one_step"][name], tables["rolling"][name],
                                baseline["validation_rmse"], protocol, summary["mase_scale"])
        for name, baseline in summary["baselines"].items()
    }
    forecaster = "forecast" if trained == "train" else "forecast_tuned"
    per_seed, metrics, losses = {}, {}, {}
    for name in params["models"]:
        made_by, forecast_by = f"{trained}@{series_name}-{name}", f"{forecaster}@{series_name}-{name}"
        histories = read_seeds(f"{history_dir}/{name}", seeds, ".csv", pd.read_csv, made_by)
        forecasts = read_seeds(f"{forecast_dir}/{name}", seeds, ".csv", pd.read_csv, forecast_by)
        one_steps = read_seeds(f"{one_step_dir}/{name}", seeds, ".csv", pd.read_csv, forecast_by)
        rollings = read_seeds(f"{rolling_dir}/{name}", seeds, ".csv", pd.read_csv, forecast_by)
        weights = read_input(seed_path(f"{models_dir}/{name}", seeds[0], ".npz"), load_npz, made_by)
        per_seed[name] = {
            f"seed_{seed}": seed_metrics(histories[seed], forecasts[seed], one_steps[seed], rollings[seed], protocol,
                                         threshold, summary["mase_scale"])
            for seed in seeds
        }
        metrics[name] = {
            "n_params": int(sum(array.size for array in weights.values())),
            **summarize(list(per_seed[name].values()), evaluate["confidence"]),
        }
        if protocol["held_out"]:
            losses[name] = origin_losses(rollings.values())
            by_h = np.array([m["rolling_rmse_by_h"] for m in per_seed[name].values()])
            metrics[name]["rolling_rmse_by_h"] = {statistic: [rounded(v) for v in function(by_h, axis=0)]
                                                  for statistic, function in BY_H.items()}
    if protocol["held_out"]:
        losses.update({name: scores.origin_losses(table, "holdout") for name, table in tables["rolling"].items()})
    metric = verdict_metric(protocol)
    values = {name: [m[metric] for m in per_seed[name].values()] for name in params["models"]}
    metrics["comparisons"] = compare_models(values, losses, protocol, evaluate["confidence"])
    metrics["protocol"] = protocol_summary(protocol, series, forecasts[seeds[0]], one_steps[seeds[0]])
    metrics["classical"] = classical
    metrics["yardstick"] = yardstick(metrics, per_seed, classical, summary["best"], losses, protocol,
                                     evaluate["confidence"])
    write_json(seeds_path, per_seed)
    # Under the series' name: `dvc metrics diff` and `dvc exp show` name each key <series>.<model>.<metric>.
    write_json(metrics_path, {series_name: metrics})
    for path in headline_path:
        write_json(path, {series_name: headline(metrics, list(params["models"]))})


if __name__ == "__main__":
    run(main)
