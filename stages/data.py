"""Stage `data@<series>`: read a series, cut off its hold-out, scale it and cut it into windows.

The hold-out (the last `holdout` values) is cut before anything is computed from the series: the
scaling statistics, the windows and the train/validation split see only the values before it.
Window i has inputs y[i:i+L] and targets y[i+1:i+L+1]; the last val_fraction of windows validate,
as Keras' `validation_split` does. Every problem with the file is reported before any output is
replaced (the outputs persist), naming the series and its key.
"""

import math

import numpy as np
import pandas as pd

from stages.cli import UserError, run
from stages.files import save_npz, write_csv, write_json
from stages.params import check_length, load_params, rolling_horizon, series_entry, split_point, validation_count
from stages.scores import origins

MAX_STEP_DRIFT = 1e-6  # relative: steps of x that differ more than this are a gap in the series


def read_series(name, entry):
    """x and y of a series as floats, or a UserError naming series.<name>.<key>."""
    prefix, path = f"series.{name}", entry["csv"]
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError(f"{prefix}.csv = {path!r}: no such file") from None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{prefix}.csv = {path!r}: not a readable CSV file ({type(error).__name__}: {error})") from None
    columns = {"column": entry["column"], **({"x": entry["x"]} if entry["x"] is not None else {})}
    values = {}
    for key, column in columns.items():
        if column not in table.columns:
            found = ", ".join(map(str, table.columns))
            raise UserError(f"{prefix}.{key} = {column!r}: no such column in {path}; it has {found}")
        numbers = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(numbers))
        if len(bad):
            row = int(bad[0])
            text = pd.read_csv(path, dtype=str, keep_default_na=False)[column].iloc[row]  # as written in the file
            raise UserError(f"{prefix}.{key} = {column!r}: {len(bad)} value(s) in {path} are missing or not finite "
                            f"numbers, the first at data row {row + 1} ({text!r}); a series must have no gaps")
        values[key] = numbers
    x = values.get("x", np.arange(len(table), dtype=np.float64))
    _check_evenly_spaced(prefix, x)
    whole = entry["x"] is None or pd.api.types.is_integer_dtype(table[entry["x"]])  # years stay 1700, not 1700.0
    return pd.DataFrame({"x": x.astype(np.int64) if whole else x, "y": values["column"]})


def _check_evenly_spaced(prefix, x):
    """The models step one sample at a time: x must rise in equal steps (no missing rows)."""
    steps = np.diff(x)
    if len(steps) == 0:
        return
    step = float(np.median(steps))
    uneven = np.flatnonzero((steps <= 0) | (np.abs(steps - step) > MAX_STEP_DRIFT * abs(step)))
    if len(uneven):
        i = int(uneven[0])
        raise UserError(f"{prefix}.x: must rise in equal steps of {step:g}; from data row {i + 1} to {i + 2} it goes "
                        f"from {x[i]:g} to {x[i + 1]:g} (a gap, or rows out of order)")


def scaling(y, scale):
    """The statistics that map the series to what the models see, from the values before the hold-out only.
    Exactly rounded sums: the same bits on every CPU."""
    if scale == "none":
        return {"scale": "none"}
    mean = math.fsum(y) / len(y)
    std = math.sqrt(math.fsum((y - mean) ** 2) / len(y))
    return {"scale": scale, "mean": mean, "std": std}


def to_model_units(y, stats):
    """What the models see; "none" leaves the values untouched (not even * 1.0 + 0.0, which turns -0.0 into 0.0)."""
    return y if stats["scale"] == "none" else (y - stats["mean"]) / stats["std"]


def to_series_units(y, stats):
    return y if stats["scale"] == "none" else y * stats["std"] + stats["mean"]


def make_windows(y, length):
    """Inputs and targets, each of shape (len(y) - length, length, 1)."""
    n = len(y) - length
    starts = np.arange(n)[:, None] + np.arange(length)[None, :]
    return y[starts][..., None], y[starts + 1][..., None]


def split(inputs, targets, val_fraction):
    at = split_point(len(inputs), val_fraction)
    return {"x_train": inputs[:at], "y_train": targets[:at], "x_val": inputs[at:], "y_val": targets[at:]}


def protocol(n_values, entry, length, val_fraction):
    """What every later stage scores, and where: protocol.json, the one source of these numbers.

    Sample indices count from 0 over the whole series. closed_loop and one_step: [first sample, steps].
    Without a hold-out, the tutorial's: the closed loop from after the first window's targets y[1..L]
    (step k predicts y[L + k]) to the end, one-step over the validation windows' targets, and one
    "validation" origin: that same closed loop chooses. With one, both run across the held-out part,
    and the rolling origins of H = `horizon` steps, every `step` samples, lie in the validation span
    (the last validation_values before the cut: they choose) and in the hold-out (they judge)."""
    holdout, n_val = entry["holdout"], validation_count(n_values - entry["holdout"], length, val_fraction)
    step = entry["rolling_step"]
    if not holdout:
        first = length + 1
        loop = [first, entry["horizon"] or n_values - first]
        return {"values": n_values, "held_out": 0, "validation_values": n_val, "closed_loop": loop,
                "one_step": [n_values - n_val, n_val], "horizon": loop[1], "step": step,
                "origins": {"validation": [first], "holdout": []}}
    first, horizon = n_values - holdout, rolling_horizon(entry, n_val)
    return {"values": n_values, "held_out": holdout, "validation_values": n_val,
            "closed_loop": [first, entry["horizon"] or holdout], "one_step": [first, holdout],
            "horizon": horizon, "step": step,
            "origins": {"validation": origins(first - n_val, first, horizon, step),
                        "holdout": origins(first, n_values, horizon, step)}}


def prepare(name, entry, windows):
    """(fit part, held-out part, scaling statistics, windows) of a series, or a UserError."""
    series = read_series(name, entry)
    problems = check_length(name, len(series), entry, windows["length"], windows["val_fraction"])
    if problems:
        raise UserError("; ".join(problems))
    cut = len(series) - entry["holdout"]
    fit, held_out = series.iloc[:cut], series.iloc[cut:]
    stats = scaling(fit["y"].to_numpy(), entry["scale"])
    y = to_model_units(fit["y"].to_numpy(), stats)
    return fit, held_out, stats, split(*make_windows(y, windows["length"]), windows["val_fraction"])


def main(argv):
    name, out_dir = argv
    params = load_params()
    entry, lengths = series_entry(params, name), (params["windows"]["length"], params["windows"]["val_fraction"])
    fit, held_out, stats, windows = prepare(name, entry, params["windows"])
    write_csv(f"{out_dir}/fit.csv", fit)
    write_csv(f"{out_dir}/holdout.csv", held_out)
    write_json(f"{out_dir}/scaling.json", stats)
    save_npz(f"{out_dir}/windows.npz", windows)
    columns = {"columns": {"x": entry["x"] or "sample", "y": entry["column"]}}
    write_json(f"{out_dir}/protocol.json", {**columns, **protocol(len(fit) + len(held_out), entry, *lengths)})


if __name__ == "__main__":
    run(main)
