"""Stage `plots@<series>`: figures across seeds (plots/figures/<series>/*.png) and the bands behind
them as CSV for `dvc plots` (plots/forecast_band/<series>/, plots/loss_band/<series>/).

Per model: the median closed-loop forecast with the band of all seeds (min to max) over the truth,
the naive and the best classical baseline, at the comparison's settings and tuned; the closed-loop
RMSE of every seed (box and points); the mean loss with its spread. PNGs are saved without the Software/version tag, so the bytes depend on data, code and
the pinned matplotlib only.
"""

import io

import matplotlib

matplotlib.use("Agg")  # no display; before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from stages.cli import run  # noqa: E402
from stages.evaluate import baselines, error_threshold  # noqa: E402
from stages.forecast import first_forecast, load_series  # noqa: E402
from stages.statistics import tuning_curve  # noqa: E402
from stages.files import load_json, read_input, read_seeds, write_bytes, write_csv  # noqa: E402
from stages.params import load_params  # noqa: E402

BASELINE_STYLES = {"zero": ":", "persistence": "--", "window_mean": "-."}


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


def series_figure(name, series, n_held_out):
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.plot(series["x"], series["y"], ".-", markersize=3)
    if n_held_out:
        axes.axvspan(series["x"].iloc[-n_held_out], series["x"].iloc[-1], color="orange", alpha=0.15, label="held out")
        axes.legend(fontsize="small")
    held_out = f": the last {n_held_out} values held out" if n_held_out else ""
    axes.set(xlabel="x", ylabel="y", title=f"Series {name}{held_out}")
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


def forecast_figure(series, bands, naive, best, what):
    """Per model, its band and median over the truth, the naive forecasts and the best classical baseline
    (best = (name, forecast table))."""
    figure, all_axes = plt.subplots(len(bands), 1, figsize=(7, 2.6 * len(bands)), sharex=True, squeeze=False)
    for axes, (name, band), color in zip(all_axes[:, 0], bands.items(), _colors()):
        axes.plot(series["x"], series["y"], color="black", linewidth=2, alpha=0.3, label="truth")
        for baseline, values in naive.items():
            axes.plot(band["x"], values, BASELINE_STYLES[baseline], color="grey", linewidth=1, label=baseline)
        axes.plot(best[1]["x"], best[1]["prediction"], color="black", linestyle="--", linewidth=1.2, label=best[0])
        axes.fill_between(band["x"], band["low"], band["high"], color=color, alpha=0.25, label="all seeds")
        axes.plot(band["x"], band["median"], color=color, label=f"{name} median")
        axes.axvspan(series["x"].iloc[0], band["x"].iloc[0], color="grey", alpha=0.1)
        axes.set(ylabel="y", title=f"{name}{what}: closed-loop forecast (shaded: what it saw)")
        axes.grid(True)
        axes.legend(fontsize="x-small", ncols=3)
    all_axes[-1, 0].set_xlabel("x")
    figure.tight_layout()
    return figure


def rmse_figure(rmse, baseline_rmse):
    """Every seed's closed-loop RMSE per model over a box plot, with the baselines as lines."""
    figure, axes = plt.subplots(figsize=(7, 4))
    names = list(rmse)
    axes.boxplot([rmse[n] for n in names], tick_labels=names, showfliers=False)
    for i, (name, color) in enumerate(zip(names, _colors()), start=1):
        offsets = np.linspace(-0.15, 0.15, len(rmse[name])) if len(rmse[name]) > 1 else [0.0]
        axes.plot(i + np.asarray(offsets), rmse[name], "o", color=color, alpha=0.8)
    for baseline, value in baseline_rmse.items():
        axes.axhline(value, linestyle=BASELINE_STYLES[baseline], color="grey", label=f"{baseline} forecast")
    axes.set(ylabel="closed-loop RMSE", title="Closed-loop RMSE of every seed (box: quartiles)")
    axes.grid(True, which="both", alpha=0.4)
    axes.legend(fontsize="small")
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
    (series_name, fit_path, holdout_path, scaling_path, history_dir, forecast_dir, tuned_forecast_dir, seeds_path,
     metrics_path, tune_dir, baselines_dir, figures_dir, forecast_band_dir, loss_band_dir) = argv
    params = load_params()
    dpi, names, seeds = params["plots"]["dpi"], list(params["models"]), params["train"]["seeds"]
    length = params["windows"]["length"]
    series, n_held_out, stats = load_series(fit_path, holdout_path, scaling_path, f"data@{series_name}")
    per_seed = read_input(seeds_path, load_json, f"evaluate@{series_name}")
    metrics = read_input(metrics_path, load_json, f"evaluate@{series_name}")[series_name]
    baseline_rmse = {k: v["rmse"] for k, v in metrics["baselines"].items()}
    chosen = metrics["yardstick"]["baseline"]
    best = chosen, read_input(f"{baselines_dir}/closed_loop/{chosen}.csv", pd.read_csv, f"baselines@{series_name}")
    forecast_bands, tuned_bands, loss_bands = {}, {}, {}
    for name in names:
        stage = f"{series_name}-{name}"
        forecasts = read_seeds(f"{forecast_dir}/{name}", seeds, ".csv", pd.read_csv, f"forecast@{stage}")
        tuned = read_seeds(f"{tuned_forecast_dir}/{name}", seeds, ".csv", pd.read_csv, f"forecast_tuned@{stage}")
        histories = read_seeds(f"{history_dir}/{name}", seeds, ".csv", pd.read_csv, f"train@{stage}")
        forecast_bands[name], tuned_bands[name] = forecast_band(forecasts), forecast_band(tuned)
        loss_bands[name] = loss_band(histories)
    horizon = len(forecast_bands[names[0]])
    naive = baselines(series, first_forecast(len(series), n_held_out, length), length, horizon)
    rmse = {name: [per_seed[name][f"seed_{seed}"]["rmse"] for seed in seeds] for name in names}
    for name in names:
        write_csv(f"{forecast_band_dir}/{name}.csv", forecast_bands[name])
        write_csv(f"{loss_band_dir}/{name}.csv", loss_bands[name])
    threshold = error_threshold(params["evaluate"]["error_threshold"], stats)
    save(series_figure(series_name, series, n_held_out), f"{figures_dir}/series.png", dpi)
    save(loss_figure(loss_bands), f"{figures_dir}/loss.png", dpi)
    save(forecast_figure(series, forecast_bands, naive, best, ""), f"{figures_dir}/forecast.png", dpi)
    save(forecast_figure(series, tuned_bands, naive, best, " tuned"), f"{figures_dir}/forecast_tuned.png", dpi)
    save(rmse_figure(rmse, baseline_rmse), f"{figures_dir}/rmse.png", dpi)
    save(error_figure(forecast_bands, threshold), f"{figures_dir}/error.png", dpi)
    tunings = {name: read_input(f"{tune_dir}/{name}.json", load_json, f"tune@{series_name}-{name}") for name in names}
    save(tuning_figure(tuning_curves(tunings), tunings), f"{figures_dir}/tuning.png", dpi)


if __name__ == "__main__":
    run(main)
