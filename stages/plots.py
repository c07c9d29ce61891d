"""Stage `plots@<series>`: figures across seeds (plots/figures/<series>/*.png) and the bands behind
them as CSV for `dvc plots` (plots/forecast_band/<series>/, plots/loss_band/<series>/).

Per model: the median closed-loop forecast with the band of all seeds (min to max) over the truth, the
naive and the best classical baseline (stages/baselines.py), at the comparison's settings and tuned,
zoomed on the hold-out with as much context before the cut; every seed's verdict score (box and points);
the mean loss with its spread; with a hold-out, the rolling-origin RMSE by horizon (error by horizon).
Axes are labelled with the series file's column names. PNGs are saved without the Software/version tag, so the bytes depend on data, code and
the pinned matplotlib only.
"""

import io

import matplotlib

matplotlib.use("Agg")  # no display; before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from stages.cli import run  # noqa: E402
from stages.evaluate import error_threshold  # noqa: E402
from stages.forecast import load_series  # noqa: E402
from stages.statistics import tuning_curve  # noqa: E402
from stages.files import load_json, read_input, read_seeds, write_bytes, write_csv  # noqa: E402
from stages.params import load_params  # noqa: E402

DRAWN = {"naive": ":", "seasonal_naive": "-."}  # beside the best baseline (dashed), when the series has them


def save(figure, path, dpi):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)
    write_bytes(path, buffer.getvalue())


def forecast_band(forecasts):
    """x, truth and the median, min and max prediction across seeds, per closed-loop step."""
    predictions = np.stack([f["prediction"].to_numpy() for f in forecasts.values()])
    first = next(iter(forecasts.values()))
    return pd.DataFrame({
        "step": first["step"], "x": first["x"], "truth": first["truth"], "median": np.median(predictions, axis=0),
        "low": predictions.min(axis=0), "high": predictions.max(axis=0),
    })


def loss_band(histories):
    """Per epoch, the mean loss and val_loss across seeds and their min and max."""
    band = {"epoch": next(iter(histories.values()))["epoch"]}
    for column in ("loss", "val_loss"):
        values = np.stack([h[column].to_numpy() for h in histories.values()])
        band.update({f"mean_{column}": values.mean(axis=0), f"min_{column}": values.min(axis=0),
                     f"max_{column}": values.max(axis=0)})
    return pd.DataFrame(band)


def series_figure(name, series, n_held_out, labels):
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.plot(series["x"], series["y"], ".-", markersize=3)
    if n_held_out:
        axes.axvspan(series["x"].iloc[-n_held_out], series["x"].iloc[-1], color="orange", alpha=0.15, label="held out")
        axes.legend(fontsize="small")
    held_out = f": the last {n_held_out} values held out" if n_held_out else ""
    axes.set(xlabel=labels["x"], ylabel=labels["y"], title=f"Series {name}{held_out}")
    axes.grid(True)
    return figure


def loss_figure(bands):
    figure, axes = plt.subplots(figsize=(7, 4))
    for (name, band), color in zip(bands.items(), _colors()):
        for column, style in (("loss", "-"), ("val_loss", "--")):
            axes.plot(band["epoch"], band[f"mean_{column}"], style, color=color, label=f"{name} {column}")
            axes.fill_between(band["epoch"], band[f"min_{column}"], band[f"max_{column}"], color=color, alpha=0.15)
    axes.set(xlabel="epoch", ylabel="MSE", yscale="log", title="Mean loss across seeds (band: min to max)")
    axes.grid(True, which="both", alpha=0.4)
    axes.legend(fontsize="small", ncols=2)
    return figure


def baselines_drawn(classical, best):
    """The best baseline first (dashed), then the naive ones the series has: {name: line style}."""
    return {best: "--", **{name: style for name, style in DRAWN.items() if name in classical and name != best}}


def forecast_figure(series, bands, baselines, labels, what):
    """Per model, its band and median over the truth and the baselines ({name: (style, forecast table)}), zoomed
    on the closed loop with as many values before it as context (the whole of the tutorial's curve)."""
    first_band = next(iter(bands.values()))
    shown = series.iloc[max(0, len(series) - 2 * len(first_band)):]
    figure, all_axes = plt.subplots(len(bands), 1, figsize=(7, 2.6 * len(bands)), sharex=True, squeeze=False)
    for axes, (name, band), color in zip(all_axes[:, 0], bands.items(), _colors()):
        axes.plot(shown["x"], shown["y"], color="black", linewidth=2, alpha=0.3, label="truth")
        for baseline, (style, table) in baselines.items():
            axes.plot(table["x"], table["prediction"], style, color="black" if style == "--" else "grey",
                      linewidth=1.2, label=baseline)
        axes.fill_between(band["x"], band["low"], band["high"], color=color, alpha=0.25, label="all seeds")
        axes.plot(band["x"], band["median"], color=color, label=f"{name} median")
        axes.axvspan(shown["x"].iloc[0], first_band["x"].iloc[0], color="grey", alpha=0.1)
        axes.set(ylabel=labels["y"], title=f"{name}{what}: closed-loop forecast (shaded: what it saw)")
        axes.grid(True)
        axes.legend(fontsize="x-small", ncols=3)
    all_axes[-1, 0].set_xlabel(labels["x"])
    figure.tight_layout()
    return figure


def score_figure(scores, baseline_scores, metric):
    """Every seed's verdict score per model over a box plot, with the baselines as lines."""
    figure, axes = plt.subplots(figsize=(7, 4))
    names = list(scores)
    axes.boxplot([scores[n] for n in names], tick_labels=names, showfliers=False)
    for i, (name, color) in enumerate(zip(names, _colors()), start=1):
        offsets = np.linspace(-0.15, 0.15, len(scores[name])) if len(scores[name]) > 1 else [0.0]
        axes.plot(i + np.asarray(offsets), scores[name], "o", color=color, alpha=0.8)
    for baseline, (style, value) in baseline_scores.items():
        axes.axhline(value, linestyle=style, color="grey", label=f"{baseline} forecast")
    what = "rolling-origin RMSE over the held-out origins" if metric == "rolling_rmse" else "closed-loop RMSE"
    axes.set(ylabel=what, title=f"{what.capitalize()} of every seed (box: quartiles)")
    axes.grid(True, which="both", alpha=0.4)
    axes.legend(fontsize="small")
    return figure


def horizon_figure(panels, classical, drawn, protocol):
    """Error by horizon: per panel (the tutorial's settings, tuned), each model's median rolling-origin RMSE per h
    over seeds with its band (min to max), the baselines as lines."""
    figure, all_axes = plt.subplots(1, len(panels), figsize=(9, 3.8), sharey=True, squeeze=False)
    h = np.arange(1, protocol["rolling"]["horizon"] + 1)
    for axes, (what, metrics) in zip(all_axes[0], panels.items()):
        for (name, m), color in zip(metrics.items(), _colors()):
            by_h = m["rolling_rmse_by_h"]
            axes.fill_between(h, by_h["min"], by_h["max"], color=color, alpha=0.2)
            axes.plot(h, by_h["median"], "o-", color=color, markersize=3, label=f"{name} median")
        for baseline, style in drawn.items():
            axes.plot(h, classical[baseline]["rolling_rmse_by_h"], style, color="black", label=baseline)
        axes.set(xlabel="horizon h (steps after the origin)", title=what)
        axes.grid(True, alpha=0.4)
    all_axes[0, 0].set_ylabel("RMSE over the held-out origins")
    all_axes[0, 0].legend(fontsize="x-small")
    figure.suptitle(f"Error by horizon: {protocol['rolling']['origins']} origins, "
                    f"{protocol['rolling']['first_x']:g}–{protocol['rolling']['last_x']:g} (band: min to max over seeds)",
                    fontsize="medium")
    figure.tight_layout()
    return figure


def error_figure(bands, threshold):
    figure, axes = plt.subplots(figsize=(7, 4))
    for (name, band), color in zip(bands.items(), _colors()):
        axes.plot(band["step"], np.abs(band["median"] - band["truth"]), color=color, label=f"{name} median forecast")
    axes.axhline(threshold, color="black", linestyle=":", label=f"threshold {threshold:g}")
    axes.set(xlabel="closed-loop step", ylabel="|error|", yscale="log", title="Closed-loop absolute error")
    axes.grid(True, which="both", alpha=0.4)
    axes.legend()
    return figure


def tuning_curves(tunings):
    """Per model: the expected best first-rung selection score of n candidates, n = 1 .. all (every
    candidate has a first-rung score, at the same budget); +inf where a diverged candidate can be the best."""
    return {name: tuning_curve([c["scores"][0] for c in t["candidates"]]) for name, t in tunings.items()}


def tuning_figure(curves, tunings):
    figure, axes = plt.subplots(figsize=(7, 4))
    for (name, curve), color in zip(curves.items(), _colors()):
        n = np.arange(1, len(curve) + 1)
        axes.plot(n, np.where(np.isinf(curve), np.nan, curve), "o-", color=color, label=name)
        chosen = tunings[name]["chosen"]
        if chosen["score"] is not None:
            axes.axhline(chosen["score"], color=color, linestyle=":", linewidth=1,
                         label=f"{name} winner at {tunings[name]['rungs'][-1]['epochs']} epochs")
    epochs = next(iter(tunings.values()))["rungs"][0]["epochs"]
    axes.set(xlabel="candidates tried", ylabel="expected best selection score (log)", yscale="log",
             title=f"Tuning curve: first rung ({epochs} epochs), mean closed-loop RMSE on tune.seeds")
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.grid(True, which="both", alpha=0.4)
    axes.legend(fontsize="x-small", loc="lower left", ncols=2)
    return figure


def _colors():
    return plt.rcParams["axes.prop_cycle"].by_key()["color"] * 10


def main(argv):
    (series_name, fit_path, holdout_path, protocol_path, scaling_path, history_dir, forecast_dir, tuned_forecast_dir,
     seeds_path, metrics_path, tuned_metrics_path, tune_dir, baselines_dir, figures_dir, forecast_band_dir,
     loss_band_dir) = argv
    params = load_params()
    dpi, names, seeds = params["plots"]["dpi"], list(params["models"]), params["train"]["seeds"]
    series, protocol, stats = load_series(fit_path, holdout_path, protocol_path, scaling_path, f"data@{series_name}")
    labels, evaluated = protocol["columns"], f"evaluate@{series_name}"
    per_seed = read_input(seeds_path, load_json, evaluated)
    metrics = read_input(metrics_path, load_json, evaluated)[series_name]
    tuned_metrics = read_input(tuned_metrics_path, load_json, f"evaluate_tuned@{series_name}")[series_name]
    classical, metric = metrics["classical"], metrics["protocol"]["verdict_metric"]
    drawn = baselines_drawn(classical, metrics["yardstick"]["baseline"])
    baselines = {name: (style, read_input(f"{baselines_dir}/closed_loop/{name}.csv", pd.read_csv,
                                          f"baselines@{series_name}")) for name, style in drawn.items()}
    forecast_bands, tuned_bands, loss_bands = {}, {}, {}
    for name in names:
        stage = f"{series_name}-{name}"
        forecasts = read_seeds(f"{forecast_dir}/{name}", seeds, ".csv", pd.read_csv, f"forecast@{stage}")
        tuned = read_seeds(f"{tuned_forecast_dir}/{name}", seeds, ".csv", pd.read_csv, f"forecast_tuned@{stage}")
        histories = read_seeds(f"{history_dir}/{name}", seeds, ".csv", pd.read_csv, f"train@{stage}")
        forecast_bands[name], tuned_bands[name] = forecast_band(forecasts), forecast_band(tuned)
        loss_bands[name] = loss_band(histories)
    scores = {name: [per_seed[name][f"seed_{seed}"][metric] for seed in seeds] for name in names}
    for name in names:
        write_csv(f"{forecast_band_dir}/{name}.csv", forecast_bands[name])
        write_csv(f"{loss_band_dir}/{name}.csv", loss_bands[name])
    threshold = error_threshold(params["evaluate"]["error_threshold"], stats)
    save(series_figure(series_name, series, protocol["held_out"], labels), f"{figures_dir}/series.png", dpi)
    save(loss_figure(loss_bands), f"{figures_dir}/loss.png", dpi)
    save(forecast_figure(series, forecast_bands, baselines, labels, ""), f"{figures_dir}/forecast.png", dpi)
    save(forecast_figure(series, tuned_bands, baselines, labels, " tuned"), f"{figures_dir}/forecast_tuned.png", dpi)
    save(score_figure(scores, {name: (style, classical[name][metric]) for name, style in drawn.items()}, metric),
         f"{figures_dir}/rmse.png", dpi)
    save(error_figure(forecast_bands, threshold), f"{figures_dir}/error.png", dpi)
    tunings = {name: read_input(f"{tune_dir}/{name}.json", load_json, f"tune@{series_name}-{name}") for name in names}
    save(tuning_figure(tuning_curves(tunings), tunings), f"{figures_dir}/tuning.png", dpi)
    if protocol["held_out"]:
        panels = {"at the tutorial's settings": {name: metrics[name] for name in names},
                  "tuned": {name: tuned_metrics[name] for name in names}}
        save(horizon_figure(panels, classical, drawn, metrics["protocol"]), f"{figures_dir}/horizon.png", dpi)


if __name__ == "__main__":
    run(main)
