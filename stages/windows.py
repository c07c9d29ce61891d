"""Stage `windows`: sliding windows over the signal and the train/validation split.

Window i has inputs y[i:i+L] and targets y[i+1:i+L+1]; the last val_fraction of windows validate,
as Keras' `validation_split` does.
"""

import numpy as np
import pandas as pd

from stages.cli import run
from stages.files import read_input, save_npz
from stages.params import load_params, split_point


def make_windows(y, length):
    """Inputs and targets, each of shape (len(y) - length, length, 1)."""
    n = len(y) - length
    starts = np.arange(n)[:, None] + np.arange(length)[None, :]
    return y[starts][..., None], y[starts + 1][..., None]


def split(inputs, targets, val_fraction):
    at = split_point(len(inputs), val_fraction)
    return {"x_train": inputs[:at], "y_train": targets[:at], "x_val": inputs[at:], "y_val": targets[at:]}


def main(argv):
    signal_path, windows_path = argv
    params = load_params()["windows"]
    y = read_input(signal_path, pd.read_csv, "generate")["y"].to_numpy()
    inputs, targets = make_windows(y, params["length"])
    save_npz(windows_path, split(inputs, targets, params["val_fraction"]))


if __name__ == "__main__":
    run(main)
