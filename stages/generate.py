"""Stage `generate`: the damped oscillation y = exp(-x/tau) cos(x) on x in [0, x_max_pi * pi]."""

import numpy as np
import pandas as pd

from stages.cli import run
from stages.files import write_csv
from stages.params import load_params


def damped_oscillation(tau, x_max_pi, n_points):
    x = np.linspace(0, x_max_pi * np.pi, n_points)
    return pd.DataFrame({"x": x, "y": np.exp(-x / tau) * np.cos(x)})


def main(argv):
    (signal_path,) = argv
    write_csv(signal_path, damped_oscillation(**load_params()["signal"]))


if __name__ == "__main__":
    run(main)
