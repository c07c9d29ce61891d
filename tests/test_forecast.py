import numpy as np

from stages.forecast import closed_loop, forecast_table, one_step, one_step_table
from stages.generate import damped_oscillation
from stages.model import build_model


def test_closed_loop_equals_feeding_predictions_back_one_call_at_a_time(keras):
    model = build_model(keras, "lstm", 8, 10, seed=0)
    start = np.sin(np.arange(10) / 3)
    window, expected = list(start), []
    for _ in range(15):
        following = float(np.asarray(model(np.array(window[-10:], np.float32).reshape(1, 10, 1)))[0, -1, 0])
        expected.append(following)
        window.append(following)
    np.testing.assert_allclose(closed_loop(model, start, 15), expected, atol=1e-6)


def test_one_step_predicts_from_each_window(keras):
    model = build_model(keras, "gru", 8, 10, seed=0)
    windows = np.stack([np.sin(np.arange(i, i + 10) / 3) for i in range(4)])[..., None]
    np.testing.assert_allclose(one_step(model, windows)[2], closed_loop(model, windows[2, :, 0], 1)[0], atol=1e-6)


def test_each_prediction_is_aligned_with_the_sample_it_predicts():
    signal = damped_oscillation(5.0, 5, 200)
    table = forecast_table(signal, 20, np.zeros(179))
    assert len(table) == 179 and table["step"].iloc[0] == 1
    assert table["x"].iloc[0] == signal["x"].iloc[21] and table["truth"].iloc[0] == signal["y"].iloc[21]
    assert table["truth"].iloc[-1] == signal["y"].iloc[-1]
    validation = one_step_table(signal, 20, np.zeros(18))
    assert validation["window"].tolist() == list(range(162, 180))
    assert validation["truth"].iloc[0] == signal["y"].iloc[182]  # window 162 holds y[162..181]
