"""The scores every choice and verdict uses, in one place: RMSE, MAE, MASE, and the rolling-origin score.

Every sum is exactly rounded (math.fsum): the same value on every CPU and in every order, so a choice
made on a score (the tuning winner, the best network, the best baseline) cannot flip on a last bit.

Rolling origin (Tashman 2000): from each origin t (every `step` samples), a forecast of the H samples
t .. t + H - 1 from the true values before t. A rolling table has one row per origin and horizon:
origin (the sample index t), h (1 .. H), x, truth, prediction; `span` says which origins it holds
(validation: before the cut, chooses; holdout: after it, judges).
"""

import math

import numpy as np
import pandas as pd

ROLLING_COLUMNS = ["span", "origin", "h", "x", "truth", "prediction"]


def rmse(truth, prediction):
    """Root mean squared error, exactly rounded; +inf when a prediction is not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        errors = (np.asarray(prediction, dtype=float) - np.asarray(truth, dtype=float)) ** 2
    if not np.isfinite(errors).all():
        return math.inf
    return math.sqrt(math.fsum(errors) / len(errors))


def mae(truth, prediction):
    return math.fsum(np.abs(np.asarray(prediction, dtype=float) - np.asarray(truth, dtype=float))) / len(truth)


def mase_scale(training, season=None):
    """The in-sample mean absolute error of the seasonal naive forecast y[t - season] on the training part
    (no season: the naive forecast y[t - 1]): MASE's denominator (Hyndman and Koehler 2006, as in M4)."""
    lag = season or 1
    if len(training) <= lag:
        raise ValueError(f"mase: {len(training)} training values leave no seasonal difference at season {lag}")
    return math.fsum(abs(float(a) - float(b)) for a, b in zip(training[lag:], training)) / (len(training) - lag)


def mase(truth, prediction, scale):
    """Mean absolute scaled error: the forecast's MAE over mase_scale(). Infinite when the training part
    repeats itself exactly (no naive error to scale by) and the forecast errs."""
    error = mae(truth, prediction)
    if scale == 0:
        return math.inf if error else 0.0
    return error / scale


def origins(first, end, horizon, step):
    """The origins t = first, first + step, ... while the H samples t .. t + H - 1 end by `end`."""
    return list(range(first, end - horizon + 1, step))


def rolling_table(series, origins, predictions):
    """The rolling table of predictions (n_origins, H) from origins [(span, t)] of a series (x, y)."""
    horizon, starts = predictions.shape[1], np.array([t for _, t in origins], dtype=int)
    samples = (starts[:, None] + np.arange(horizon)[None, :]).ravel()
    return pd.DataFrame({
        "span": np.repeat([span for span, _ in origins], horizon), "origin": np.repeat(starts, horizon),
        "h": np.tile(np.arange(1, horizon + 1), len(starts)),
        "x": series["x"].to_numpy()[samples], "truth": series["y"].to_numpy()[samples],
        "prediction": np.asarray(predictions, dtype=float).ravel(),
    })


def rolling_score(table, span):
    """The score that chooses and judges: RMSE over every origin and horizon of one span of a rolling table."""
    rows = table[table["span"] == span]
    return rmse(rows["truth"], rows["prediction"])


def by_horizon(table, span, scale):
    """Per h = 1 .. H, over the span's origins: RMSE, MAE and MASE."""
    rows = table[table["span"] == span]
    groups = [rows[rows["h"] == h] for h in sorted(set(rows["h"]))]
    return {
        "rmse": [rmse(g["truth"], g["prediction"]) for g in groups],
        "mae": [mae(g["truth"], g["prediction"]) for g in groups],
        "mase": [mase(g["truth"], g["prediction"], scale) for g in groups],
    }


def origin_losses(table, span):
    """Per origin of the span, in order: the mean squared error over its H steps (the loss the test across
    origins compares)."""
    rows = table[table["span"] == span]
    errors = (rows["prediction"] - rows["truth"]) ** 2
    return [math.fsum(group) / len(group) for _, group in errors.groupby(rows["origin"], sort=True)]
