"""Stage `evaluate`: metrics/metrics.json, keyed by model, from the outputs of train and forecast.

Needs no model framework: parameter counts come from the saved weight arrays.
"""

import numpy as np
import pandas as pd

from stages.cli import run
from stages.files import load_npz, read_input, write_json
from stages.params import load_params

SIGNIFICANT_DIGITS = 6


def rounded(value):
    """Few enough digits for `dvc metrics diff` to read, all of them reproducible."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def closed_loop_metrics(forecast, threshold):
    error = np.abs(forecast["prediction"].to_numpy() - forecast["truth"].to_numpy())
    exceeded = np.flatnonzero(error > threshold)
    return {
        "rmse": rounded(np.sqrt(np.mean(error**2))),
        "mae": rounded(np.mean(error)),
        "max_abs_error": rounded(np.max(error)),
        "valid_steps": int(exceeded[0]) if len(exceeded) else len(error),
    }


def model_metrics(weights, history, forecast, one_step, threshold):
    one_step_error = one_step["prediction"].to_numpy() - one_step["truth"].to_numpy()
    return {
        "n_params": int(sum(array.size for array in weights.values())),
        "train_loss": rounded(history["loss"].iloc[-1]),
        "val_loss": rounded(history["val_loss"].iloc[-1]),
        "one_step_val_rmse": rounded(np.sqrt(np.mean(one_step_error**2))),
        **closed_loop_metrics(forecast, threshold),
    }


def main(argv):
    models_dir, history_dir, forecast_dir, one_step_dir, metrics_path = argv
    params = load_params()
    threshold = params["evaluate"]["error_threshold"]
    metrics = {}
    for name in params["models"]:
        metrics[name] = model_metrics(
            read_input(f"{models_dir}/{name}/weights.npz", load_npz, f"train@{name}"),
            read_input(f"{history_dir}/{name}.csv", pd.read_csv, f"train@{name}"),
            read_input(f"{forecast_dir}/{name}.csv", pd.read_csv, f"forecast@{name}"),
            read_input(f"{one_step_dir}/{name}.csv", pd.read_csv, f"forecast@{name}"),
            threshold,
        )
    write_json(metrics_path, metrics)


if __name__ == "__main__":
    run(main)
