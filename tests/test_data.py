import numpy as np

from stages.generate import damped_oscillation
from stages.data import make_windows, split


def test_tutorial_shapes_and_targets_shifted_by_one():
    y = damped_oscillation(5.0, 5, 200)["y"].to_numpy()
    inputs, targets = make_windows(y, 20)
    assert inputs.shape == targets.shape == (180, 20, 1)
    np.testing.assert_array_equal(inputs[7, :, 0], y[7:27])
    np.testing.assert_array_equal(targets[7, :, 0], y[8:28])
    np.testing.assert_array_equal(targets[0, :, 0], y[1:21])


def test_split_keeps_the_last_windows_for_validation():
    inputs, targets = make_windows(np.arange(30.0), 10)
    parts = split(inputs, targets, 0.1)
    assert [len(parts[k]) for k in ("x_train", "y_train", "x_val", "y_val")] == [18, 18, 2, 2]
    np.testing.assert_array_equal(parts["x_val"][0, :, 0], np.arange(18.0, 28.0))
