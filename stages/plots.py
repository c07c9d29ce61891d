"""Stage `plots`: plots/signal.png, loss.png, forecast.png and error.png.

PNGs are saved without the Software/version tag, so the bytes depend on data, code and the
pinned matplotlib only.
"""

import io

import matplotlib

matplotlib.use("Agg")  # no display; before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from stages.cli import run  # noqa: E402
from stages.files import read_input, write_bytes  # noqa: E402
from stages.params import load_params  # noqa: E402


def save(figure, path, dpi):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)
    write_bytes(path, buffer.getvalue())


def signal_figure(signal):
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.plot(signal["x"], signal["y"], ".-", markersize=3)
    axes.set(xlabel="x", ylabel="y", title="Signal: y = exp(-x/tau) cos(x)")
    axes.grid(True)
    return figure


def loss_figure(histories):
    figure, axes = plt.subplots(figsize=(7, 4))
    for (name, history), color in zip(histories.items(), _colors()):
        axes.plot(history["epoch"], history["loss"], color=color, label=f"{name} loss")
        axes.plot(history["epoch"], history["val_loss"], color=color, linestyle="--", label=f"{name} val_loss")
    axes.set(xlabel="epoch", ylabel="MSE", yscale="log", title="Training and validation loss")
    axes.grid(True, which="both", alpha=0.4)
    axes.legend(fontsize="small", ncols=2)
    return figure


def forecast_figure(signal, forecasts):
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(signal["x"], signal["y"], color="black", linewidth=2, alpha=0.3, label="truth")
    for (name, forecast), color in zip(forecasts.items(), _colors()):
        axes.plot(forecast["x"], forecast["prediction"], color=color, label=f"{name} closed loop")
    start = forecasts[next(iter(forecasts))]["x"].iloc[0]
    axes.axvspan(signal["x"].iloc[0], start, color="grey", alpha=0.1, label="seed window")
    axes.set(xlabel="x", ylabel="y", title="Closed-loop forecast (each prediction fed back)")
    axes.grid(True)
    axes.legend(fontsize="small")
    return figure


def error_figure(forecasts, threshold):
    figure, axes = plt.subplots(figsize=(7, 4))
    for (name, forecast), color in zip(forecasts.items(), _colors()):
        error = np.abs(forecast["prediction"] - forecast["truth"])
        axes.plot(forecast["step"], error, color=color, label=name)
    axes.axhline(threshold, color="black", linestyle=":", label=f"threshold {threshold:g}")
    axes.set(xlabel="closed-loop step", ylabel="|error|", yscale="log", title="Closed-loop absolute error")
    axes.grid(True, which="both", alpha=0.4)
    axes.legend()
    return figure


def _colors():
    return plt.rcParams["axes.prop_cycle"].by_key()["color"] * 10


def main(argv):
    signal_path, history_dir, forecast_dir, plots_dir = argv
    params = load_params()
    dpi, names = params["plots"]["dpi"], list(params["models"])
    signal = read_input(signal_path, pd.read_csv, "generate")
    histories = {name: read_input(f"{history_dir}/{name}.csv", pd.read_csv, f"train@{name}") for name in names}
    forecasts = {name: read_input(f"{forecast_dir}/{name}.csv", pd.read_csv, f"forecast@{name}") for name in names}
    save(signal_figure(signal), f"{plots_dir}/signal.png", dpi)
    save(loss_figure(histories), f"{plots_dir}/loss.png", dpi)
    save(forecast_figure(signal, forecasts), f"{plots_dir}/forecast.png", dpi)
    save(error_figure(forecasts, params["evaluate"]["error_threshold"]), f"{plots_dir}/error.png", dpi)


if __name__ == "__main__":
    run(main)
