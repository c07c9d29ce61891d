"""Stages `evaluate@<series>` and `evaluate_tuned@<series>`: per-seed metrics (seeds.json), and per model their spread with
confidence intervals, the naive baselines and every pair of models compared (metrics/metrics.json).

Needs no model framework: parameter counts come from the saved weight arrays.
"""

import itertools
import math

import numpy as np
import pandas as pd

from stages import statistics
from stages.cli import run
from stages.files import load_json, load_npz, read_input, read_seeds, seed_path, write_json
from stages.forecast import first_forecast, load_series
from stages.params import load_params

SIGNIFICANT_DIGITS = 6
SPECTRUM_POINTS = 4096  # zero-padded FFT length: frequency steps ~2 % of the signal's at the defaults
# Metrics summarized across seeds (mean, median, spread, confidence interval); rmse decides the verdicts.
HEADLINE = (
    "rmse", "mae", "max_abs_error", "valid_steps", "correlation", "frequency_error", "one_step_val_rmse",
    "skill_zero", "skill_persistence", "skill_window_mean", "mase", "one_step_mase",
)


def rounded(value):
    """Few enough digits for `dvc metrics diff` to read, all of them reproducible."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def baselines(series, first, length, horizon):
    """The naive forecasts over the closed-loop steps, from the window y[first - L .. first - 1] the models
    start from (stages/forecast.py's spans())."""
    window = series["y"].to_numpy()[first - length : first]
    return {
        "zero": np.zeros(horizon),  # the damped signal's asymptote
        "persistence": np.full(horizon, window[-1]),  # the last seed-window value repeated
        "window_mean": np.full(horizon, np.mean(window)),
    }


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
        "rmse": rounded(np.sqrt(np.mean(error**2))),
        "mae": rounded(np.mean(error)),
        "max_abs_error": rounded(np.max(error)),
        "valid_steps": int(exceeded[0]) if len(exceeded) else len(error),
        "correlation": rounded(correlation(prediction, truth)),
        "frequency_error": rounded(frequency_error),
    }


def seed_metrics(history, forecast, one_step, baseline_rmse, threshold, scale):
    """Every metric of one trained model; skill_<baseline> = 1 - rmse / rmse of the baseline (> 0: better);
    mase: scaled by the training part's in-sample (seasonal) naive error `scale` (stages/statistics.py)."""
    one_step_error = one_step["prediction"].to_numpy() - one_step["truth"].to_numpy()
    loop = closed_loop_metrics(
        forecast["x"].to_numpy(), forecast["truth"].to_numpy(), forecast["prediction"].to_numpy(), threshold
    )
    return {
        "train_loss": rounded(history["loss"].iloc[-1]),
        "val_loss": rounded(history["val_loss"].iloc[-1]),
        "one_step_val_rmse": rounded(np.sqrt(np.mean(one_step_error**2))),
        **loop,
        **{f"skill_{name}": rounded(1 - loop["rmse"] / rmse) for name, rmse in baseline_rmse.items()},
        "mase": rounded(statistics.mase(forecast["truth"], forecast["prediction"], scale)),
        "one_step_mase": rounded(statistics.mase(one_step["truth"], one_step["prediction"], scale)),
    }


def classical_metrics(closed_loop, one_step, validation_rmse, scale):
    """A classical baseline's scores: closed loop and one-step over the networks' spans, and the
    validation-span score that chose the best of them (stages/baselines.py)."""
    truth, prediction = closed_loop["truth"].to_numpy(), closed_loop["prediction"].to_numpy()
    one_step_error = one_step["prediction"].to_numpy() - one_step["truth"].to_numpy()
    return {
        "rmse": rounded(np.sqrt(np.mean((prediction - truth) ** 2))),
        "mae": rounded(np.mean(np.abs(prediction - truth))),
        "mase": rounded(statistics.mase(truth, prediction, scale)),
        "one_step_rmse": rounded(np.sqrt(np.mean(one_step_error**2))),
        "one_step_mase": rounded(statistics.mase(one_step["truth"], one_step["prediction"], scale)),
        "validation_rmse": rounded(validation_rmse),
    }


def yardstick(metrics, per_seed, classical, best_baseline, confidence):
    """Is the best network better than the best classical baseline? Both chosen without the scored part:
    the network with the lowest mean final val_loss (the validation windows), the baseline with the lowest
    validation-span RMSE. The rule, fixed before the numbers: the network is better if the whole CI of its
    mean closed-loop RMSE lies below the baseline's RMSE (a baseline is deterministic, the network varies
    by seed), worse if it lies above; p_seed_better: the share of seeds below the baseline, with its
    Clopper-Pearson CI."""
    val_loss = {name: math.fsum(m["val_loss"] for m in seeds.values()) / len(seeds) for name, seeds in per_seed.items()}
    network = min(val_loss, key=lambda name: (val_loss[name], name))
    target = classical[best_baseline]["rmse"]
    rmse = [m["rmse"] for m in per_seed[network].values()]
    better = sum(value < target for value in rmse)
    low, high = statistics.proportion_ci(better, len(rmse), confidence)
    return {
        "baseline": best_baseline, "baseline_rmse": target, "baseline_mase": classical[best_baseline]["mase"],
        "network": network,
        **{f"network_{key}": metrics[network][key] for key in ("rmse", "rmse_ci_low", "rmse_ci_high", "mase")},
        "p_seed_better": rounded(better / len(rmse)), "p_seed_better_ci_low": rounded(low),
        "p_seed_better_ci_high": rounded(high),
    }


def summarize(per_seed, confidence):
    """Per headline metric, across seeds: <metric> is the mean (the key a single run had, so `dvc
    metrics diff` lines up with older commits), <metric>_<statistic> the median, std, min, max,
    trimmed mean and the bootstrap CI of the mean."""
    summary = {}
    for metric in HEADLINE:
        for statistic, value in statistics.summary([m[metric] for m in per_seed], confidence).items():
            summary[metric if statistic == "mean" else f"{metric}_{statistic}"] = rounded(value)
    return summary


def compare_models(rmse_by_model, confidence):
    """Every pair of models on closed-loop rmse, with Holm's correction across the pairs."""
    pairs = list(itertools.combinations(rmse_by_model, 2))
    results = [statistics.compare(rmse_by_model[a], rmse_by_model[b], confidence) for a, b in pairs]
    adjusted = statistics.holm([result["p_value"] for result in results])
    return {
        f"{a}_vs_{b}": {k: rounded(v) for k, v in {**result, "p_holm": p}.items()}
        for (a, b), result, p in zip(pairs, results, adjusted)
    }


def protocol(n_values, n_held_out, forecast, one_step):
    """What the scores are about, for the report: the series' size, its hold-out, the x range of each span."""
    span = lambda table: {"first_x": table["x"].iloc[0].item(), "last_x": table["x"].iloc[-1].item(),  # noqa: E731
                          "steps": len(table)}
    return {"values": n_values, "held_out": n_held_out, "closed_loop": span(forecast), "one_step": span(one_step)}


def headline(metrics, names):
    """A few keys for `dvc metrics diff`: each model's mean closed-loop RMSE and its CI, each pair's
    Holm-corrected p and P(A better). Under one key, "tuned": `make exps` shows only <series>.<model>.rmse columns."""
    models = {name: {k: metrics[name][k] for k in ("rmse", "rmse_ci_low", "rmse_ci_high")} for name in names}
    pairs = {pair: {k: c[k] for k in ("p_holm", "p_better")} for pair, c in metrics["comparisons"].items()}
    return {"tuned": {**models, "comparisons": pairs}}


def error_threshold(threshold, stats):
    """evaluate.error_threshold in the series' units: as given for an unscaled series, times the
    training part's standard deviation for a standardized one."""
    return threshold if stats["scale"] == "none" else threshold * stats["std"]


def main(argv):
    """argv: the series, its data, the stage's inputs, seeds.json and metrics.json; optionally a last
    path for headline(metrics). trained: train or tuned (the stages that made the models)."""
    (series_name, trained, fit_path, holdout_path, scaling_path, baselines_dir, models_dir, history_dir, forecast_dir,
     one_step_dir, seeds_path, metrics_path, *headline_path) = argv
    params = load_params()
    evaluate, seeds, length = params["evaluate"], params["train"]["seeds"], params["windows"]["length"]
    series, n_held_out, stats = load_series(fit_path, holdout_path, scaling_path, f"data@{series_name}")
    threshold = error_threshold(evaluate["error_threshold"], stats)
    fitted = f"baselines@{series_name}"
    summary = read_input(f"{baselines_dir}/baselines.json", load_json, fitted)
    classical = {
        name: classical_metrics(read_input(f"{baselines_dir}/closed_loop/{name}.csv", pd.read_csv, fitted),
                                read_input(f"{baselines_dir}/one_step/{name}.csv", pd.read_csv, fitted),
                                baseline["validation_rmse"], summary["mase_scale"])
        for name, baseline in summary["baselines"].items()
    }
    forecaster = "forecast" if trained == "train" else "forecast_tuned"
    per_seed, metrics = {}, {}
    for name in params["models"]:
        made_by, forecast_by = f"{trained}@{series_name}-{name}", f"{forecaster}@{series_name}-{name}"
        histories = read_seeds(f"{history_dir}/{name}", seeds, ".csv", pd.read_csv, made_by)
        forecasts = read_seeds(f"{forecast_dir}/{name}", seeds, ".csv", pd.read_csv, forecast_by)
        one_steps = read_seeds(f"{one_step_dir}/{name}", seeds, ".csv", pd.read_csv, forecast_by)
        weights = read_input(seed_path(f"{models_dir}/{name}", seeds[0], ".npz"), load_npz, made_by)
        if "baselines" not in metrics:  # every model forecasts the same steps
            x, truth = forecasts[seeds[0]]["x"].to_numpy(), forecasts[seeds[0]]["truth"].to_numpy()
            first = first_forecast(len(series), n_held_out, length)
            naive = baselines(series, first, length, len(truth))
            metrics["baselines"] = {k: closed_loop_metrics(x, truth, v, threshold) for k, v in naive.items()}
        baseline_rmse = {k: v["rmse"] for k, v in metrics["baselines"].items()}
        per_seed[name] = {
            f"seed_{seed}": seed_metrics(histories[seed], forecasts[seed], one_steps[seed], baseline_rmse, threshold,
                                         summary["mase_scale"])
            for seed in seeds
        }
        metrics[name] = {
            "n_params": int(sum(array.size for array in weights.values())),
            **summarize(list(per_seed[name].values()), evaluate["confidence"]),
        }
    rmse = {name: [m["rmse"] for m in per_seed[name].values()] for name in params["models"]}
    metrics["comparisons"] = compare_models(rmse, evaluate["confidence"])
    metrics["protocol"] = protocol(len(series), n_held_out, forecasts[seeds[0]], one_steps[seeds[0]])
    metrics["classical"] = classical
    metrics["yardstick"] = yardstick(metrics, per_seed, classical, summary["best"], evaluate["confidence"])
    write_json(seeds_path, per_seed)
    # Under the series' name: `dvc metrics diff` and `dvc exp show` name each key <series>.<model>.<metric>.
    write_json(metrics_path, {series_name: metrics})
    for path in headline_path:
        write_json(path, {series_name: headline(metrics, list(params["models"]))})


if __name__ == "__main__":
    run(main)
