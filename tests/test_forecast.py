import numpy as np

from stages.data import protocol
from stages.forecast import (
    forecast_table, forecaster, inputs_before, one_step_table, rolling_forecaster, rolling_origins, windows_before,
)
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


def closed_loop_by_hand(model, window, steps):
    """The closed loop one model call at a time: the independent loop the compiled ones are checked against."""
    window, predictions = list(window), []
    for _ in range(steps):
        following = float(np.asarray(model(np.array(window, np.float32).reshape(1, -1, 1)))[0, -1, 0])
        predictions.append(following)
        window = window[1:] + [following]
    return predictions


def test_rolling_forecasts_of_every_seed_are_each_origins_own_closed_loop(keras):
    models = [build_model(keras, "gru", 8, 10, seed=seed) for seed in (0, 1)]
    y = np.sin(np.arange(60) / 3)
    origins = [("validation", 20), ("holdout", 30), ("holdout", 31), ("holdout", 45)]
    starts = windows_before(y, origins, 10)
    assert starts.shape == (4, 10) and starts[1, -1] == y[29]  # the true window ending just before the origin
    rolling = rolling_forecaster(models[0], 6)([[v.value for v in m.trainable_variables] for m in models], starts)
    assert rolling.shape == (2, 4, 6)
    for seed, model in enumerate(models):
        for i, start in enumerate(starts):
            np.testing.assert_allclose(rolling[seed, i], closed_loop_by_hand(model, list(start), 6), atol=1e-6)


def test_each_prediction_is_aligned_with_the_sample_it_predicts():
    signal = damped_oscillation(5.0, 5, 200)
    entry = {"holdout": 0, "horizon": None, "rolling_horizon": None, "rolling_step": 1}
    where = protocol(200, entry, 20, 0.1)
    assert (where["closed_loop"], where["one_step"]) == ([21, 179], [182, 18])  # the tutorial's
    assert where["origins"] == {"validation": [21], "holdout": []} and where["horizon"] == 179  # one loop chooses
    table = forecast_table(signal, 21, np.zeros(179))
    assert len(table) == 179 and table["step"].iloc[0] == 1
    assert table["x"].iloc[0] == signal["x"].iloc[21] and table["truth"].iloc[0] == signal["y"].iloc[21]
    assert table["truth"].iloc[-1] == signal["y"].iloc[-1]
    validation = one_step_table(signal, 182, 20, np.zeros(18))
    assert validation["window"].tolist() == list(range(162, 180))
    assert validation["truth"].iloc[0] == signal["y"].iloc[182]  # window 162 holds y[162..181]


def test_with_a_hold_out_the_scores_are_after_the_cut_and_the_choices_before_it():
    # 309 values, 40 held out: 269 to fit, 249 windows of 20, the last 25 validating.
    entry = {"holdout": 40, "horizon": None, "season": 11, "rolling_horizon": None, "rolling_step": 1}
    where = protocol(309, entry, 20, 0.1)
    assert (where["closed_loop"], where["one_step"], where["validation_values"]) == ([269, 40], [269, 40], 25)
    assert where["horizon"] == 11  # by default one season: a solar cycle
    assert where["origins"]["holdout"] == list(range(269, 299))  # 30 origins, the last forecasting 2008
    assert where["origins"]["validation"] == list(range(244, 259))  # 15, each ending by the cut: none sees it
    assert rolling_origins(where)[:2] == [("validation", 244), ("validation", 245)]
    assert protocol(309, {**entry, "horizon": 12}, 20, 0.1)["closed_loop"] == [269, 12]
    assert protocol(309, {**entry, "season": None}, 20, 0.1)["horizon"] == 10  # a quarter of the hold-out
    assert protocol(309, {**entry, "rolling_step": 4}, 20, 0.1)["origins"]["holdout"] == list(range(269, 299, 4))
    y = np.arange(309.0)
    inputs = inputs_before(y, 269, 40, 20)
    assert inputs.shape == (40, 20, 1) and inputs[0, -1, 0] == 268 and inputs[-1, -1, 0] == 307  # the true past only
