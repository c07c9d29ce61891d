"""Stage `generate`: the damped oscillation y = exp(-x/tau) cos(x) on x in [0, x_max_pi * pi]."""

import numpy as np
import pandas as pd

from stages.cli import run
from stages.files import write_csv
from stages.params import load_params


def damped_oscillation(tau, x_max_pi, n_points):
    """x, and y rounded once from 113-bit arithmetic: the same bits on every CPU.

    NumPy's exp and cos run SIMD kernels picked from the CPU (AVX2, AVX-512) that differ in the
    last bit; mpmath computes with integers only.
    """
    import mpmath

    x = np.linspace(0, x_max_pi * np.pi, n_points)
    with mpmath.workprec(113):
        y = [float(mpmath.exp(-mpmath.mpf(value) / tau) * mpmath.cos(value)) for value in x]
    return pd.DataFrame({"x": x, "y": y})


def main(argv):
    (signal_path,) = argv
    write_csv(signal_path, damped_oscillation(**load_params()["signal"]))


if __name__ == "__main__":
    run(main)
