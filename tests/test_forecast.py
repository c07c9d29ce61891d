import numpy as np

from stages.forecast import forecast_table, forecaster, inputs_before, one_step_table, spans
from stages.generate import damped_oscillation
from stages.model import build_model, load_weights, weight_arrays


def test_closed_loop_equals_feeding_predictions_back_one_call_at_a_time(keras):
    model = build_model(keras, "lstm", 8, 10, seed=0)
    start = np.sin(np.arange(10) / 3)
    window, expected = list(start), []
    for _ in range(15):
        following = float(np.asarray(model(np.array(window[-10:], np.float32).reshape(1, 10, 1)))[0, -1, 0])
        expected.append(following)
        window.append(following)
    closed_loop, _ = forecaster(model, 15)
    np.testing.assert_allclose(closed_loop([v.value for v in model.trainable_variables], start), expected, atol=1e-6)


def test_one_step_predicts_from_each_window(keras):
    model = build_model(keras, "gru", 8, 10, seed=0)
    windows = np.stack([np.sin(np.arange(i, i + 10) / 3) for i in range(4)])[..., None]
    closed_loop, one_step = forecaster(model, 1)
    weights = [v.value for v in model.trainable_variables]
    np.testing.assert_allclose(one_step(weights, windows)[2], closed_loop(weights, windows[2, :, 0])[0], atol=1e-6)


def test_one_compiled_forecaster_serves_every_seed(keras):
    """Weights are arguments: a forecaster built on one model forecasts another seed's weights
    exactly as a model built with them does."""
    start = np.sin(np.arange(10) / 3)
    other = build_model(keras, "gru", 8, 10, seed=1)
    shared, _ = forecaster(build_model(keras, "gru", 8, 10, seed=0), 5)
    own, _ = forecaster(other, 5)
    weights = [v.value for v in other.trainable_variables]
    np.testing.assert_array_equal(shared(weights, start), own(weights, start))
    template = build_model(keras, "gru", 8, 10)
    load_weights(template, weight_arrays(other), "weights", "train")
    np.testing.assert_array_equal(shared([v.value for v in template.trainable_variables], start), own(weights, start))


def test_each_prediction_is_aligned_with_the_sample_it_predicts():
    signal = damped_oscillation(5.0, 5, 200)
    span = spans(200, 0, 20, 18, None)
    assert span == {"closed_loop": (21, 179), "one_step": (182, 18), "selection": (21, 179)}  # the tutorial's
    table = forecast_table(signal, 21, np.zeros(179))
    assert len(table) == 179 and table["step"].iloc[0] == 1
    assert table["x"].iloc[0] == signal["x"].iloc[21] and table["truth"].iloc[0] == signal["y"].iloc[21]
    assert table["truth"].iloc[-1] == signal["y"].iloc[-1]
    validation = one_step_table(signal, 182, 20, np.zeros(18))
    assert validation["window"].tolist() == list(range(162, 180))
    assert validation["truth"].iloc[0] == signal["y"].iloc[182]  # window 162 holds y[162..181]


def test_with_a_hold_out_the_scores_are_after_the_cut_and_the_selection_before_it():
    # 309 values, 40 held out: 269 to fit, 249 windows of 20, the last 25 validating.
    span = spans(309, 40, 20, 25, None)
    assert span == {"closed_loop": (269, 40), "one_step": (269, 40), "selection": (244, 25)}
    first, steps = span["selection"]
    assert first + steps == 269  # the selection's closed loop ends where the hold-out begins
    assert spans(309, 40, 20, 25, 12)["closed_loop"] == (269, 12)
    y = np.arange(309.0)
    inputs = inputs_before(y, 269, 40, 20)
    assert inputs.shape == (40, 20, 1) and inputs[0, -1, 0] == 268 and inputs[-1, -1, 0] == 307  # the true past only
