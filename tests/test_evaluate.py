import numpy as np
import pandas as pd
import pytest

from stages.evaluate import (
    baselines, closed_loop_metrics, correlation, dominant_frequency, rounded, seed_metrics, yardstick,
)
from stages.statistics import yardstick_verdict
from stages.generate import damped_oscillation

X4 = np.arange(4.0)


def test_closed_loop_metrics_and_valid_steps():
    metrics = closed_loop_metrics(X4, np.zeros(4), np.array([0.01, -0.04, 0.2, 0.0]), threshold=0.05)
    assert metrics["valid_steps"] == 2  # the third step is the first with |error| > 0.05
    assert metrics["max_abs_error"] == 0.2
    assert metrics["mae"] == rounded(0.25 / 4)
    assert metrics["rmse"] == rounded(np.sqrt((0.01**2 + 0.04**2 + 0.2**2) / 4))


def test_valid_steps_is_the_whole_horizon_when_never_exceeded():
    assert closed_loop_metrics(X4[:2], np.array([1.0, 2.0]), np.array([1.0, 2.01]), threshold=0.05)["valid_steps"] == 2


def test_correlation_sees_the_shape_and_is_zero_for_a_flat_forecast():
    truth = np.cos(np.linspace(0, 6, 50))
    assert correlation(truth * 0.5 + 0.1, truth) == pytest.approx(1.0)
    assert correlation(-truth, truth) == pytest.approx(-1.0)
    assert correlation(np.full(50, -0.06), truth) == 0.0


def test_dominant_frequency_finds_the_oscillation_and_zero_for_a_constant():
    x = np.linspace(0, 5 * np.pi, 200)
    spacing = x[1] - x[0]
    frequency = dominant_frequency(np.exp(-x / 5) * np.cos(x), spacing)
    assert abs(frequency - 1 / (2 * np.pi)) < 0.01  # cos(x): 1 / (2 pi) cycles per unit of x
    assert abs(dominant_frequency(np.cos(2 * x), spacing) - 2 / (2 * np.pi)) < 0.01
    assert dominant_frequency(np.full(200, 0.3), spacing) == 0.0


def test_a_flat_forecast_has_the_whole_frequency_wrong_and_a_good_one_none():
    x = np.linspace(5, 15, 120)
    truth = np.exp(-x / 5) * np.cos(x)
    assert closed_loop_metrics(x, truth, np.full(120, -0.06), 0.05)["frequency_error"] == 1.0
    assert closed_loop_metrics(x, truth, truth * 0.9, 0.05)["frequency_error"] == 0.0


def test_baselines_start_from_the_seed_window():
    signal = damped_oscillation(5.0, 5, 200)
    window = signal["y"].to_numpy()[1:21]  # the closed loop starts from y[1..20]
    naive = baselines(signal, 21, 20, 179)
    assert set(naive) == {"zero", "persistence", "window_mean"}
    assert (naive["zero"] == 0).all() and len(naive["zero"]) == 179
    assert (naive["persistence"] == window[-1]).all()
    assert (naive["window_mean"] == np.mean(window)).all()


def test_skill_is_one_minus_the_rmse_ratio_to_each_baseline():
    history = pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25], "val_loss": [0.4, 0.125]})
    forecast = pd.DataFrame({"x": X4, "truth": np.zeros(4), "prediction": np.full(4, 0.1)})
    one_step = pd.DataFrame({"truth": [1.0, 1.0], "prediction": [1.0, 0.0]})
    naive = {"zero": 0.2, "persistence": 0.1, "window_mean": 0.05}
    metrics = seed_metrics(history, forecast, one_step, naive, 0.05, scale=0.4)
    assert (metrics["train_loss"], metrics["val_loss"]) == (0.25, 0.125)
    assert metrics["one_step_val_rmse"] == rounded(np.sqrt(0.5))
    assert metrics["rmse"] == 0.1
    assert (metrics["skill_zero"], metrics["skill_persistence"], metrics["skill_window_mean"]) == (0.5, 0.0, -1.0)
    assert (metrics["mase"], metrics["one_step_mase"]) == (0.25, 1.25)  # mean absolute errors 0.1, 0.5 over 0.4


def test_the_best_network_is_chosen_on_validation_loss_and_judged_by_its_whole_ci():
    per_seed = {"gru": {f"seed_{i}": {"val_loss": 0.2, "rmse": 0.1} for i in range(4)},
                "lstm": {f"seed_{i}": {"val_loss": 0.1, "rmse": r} for i, r in enumerate([0.3, 0.4, 0.5, 0.6])}}
    metrics = {"lstm": {"rmse": 0.45, "rmse_ci_low": 0.35, "rmse_ci_high": 0.55, "mase": 2.0},
               "gru": {"rmse": 0.1, "rmse_ci_low": 0.1, "rmse_ci_high": 0.1, "mase": 0.5}}
    classical = {"ar": {"rmse": 0.42, "mase": 1.9}, "theta": {"rmse": 0.01, "mase": 0.1}}
    result = yardstick(metrics, per_seed, classical, "ar", 0.95)
    # lstm: the lower validation loss, though gru scores better on the held-out part (not a choice criterion)
    assert result["network"] == "lstm" and result["baseline"] == "ar" and result["p_seed_better"] == 0.5
    assert 0 < result["p_seed_better_ci_low"] < 0.5 < result["p_seed_better_ci_high"] < 1
    assert yardstick_verdict("lstm", "ar", 0.35, 0.55, 0.42) == "no detectable difference between lstm and ar"
    assert yardstick_verdict("lstm", "ar", 0.35, 0.41, 0.42) == "lstm better than ar"
    assert yardstick_verdict("lstm", "ar", 0.43, 0.55, 0.42) == "ar better than lstm"
