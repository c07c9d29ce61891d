import numpy as np

from stages.generate import damped_oscillation


def test_matches_the_tutorials_printed_values():
    signal = damped_oscillation(tau=5.0, x_max_pi=5, n_points=200)
    assert signal.shape == (200, 2)
    np.testing.assert_allclose(
        signal["x"][:10],
        [
            0.0,
            0.07893449,
            0.15786898,
            0.23680347,
            0.31573796,
            0.39467244,
            0.47360693,
            0.55254142,
            0.63147591,
            0.7104104,
        ],
        atol=5e-9,
    )
    np.testing.assert_allclose(
        signal["y"][:10],
        [
            1.0,
            0.98127212,
            0.9568705,
            0.92712705,
            0.89239742,
            0.85305798,
            0.80950282,
            0.76214062,
            0.71139167,
            0.65768474,
        ],
        atol=5e-9,
    )
    assert signal["x"].iloc[-1] == 5 * np.pi
