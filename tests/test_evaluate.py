import numpy as np
import pandas as pd

from stages.evaluate import closed_loop_metrics, model_metrics, rounded


def table(truth, prediction):
    return pd.DataFrame({"truth": truth, "prediction": prediction})


def test_closed_loop_metrics_and_valid_steps():
    metrics = closed_loop_metrics(table([0.0, 0.0, 0.0, 0.0], [0.01, -0.04, 0.2, 0.0]), threshold=0.05)
    assert metrics["valid_steps"] == 2  # the third step is the first with |error| > 0.05
    assert metrics["max_abs_error"] == 0.2
    assert metrics["mae"] == rounded(0.25 / 4)
    assert metrics["rmse"] == rounded(np.sqrt((0.01**2 + 0.04**2 + 0.2**2) / 4))


def test_valid_steps_is_the_whole_horizon_when_never_exceeded():
    assert closed_loop_metrics(table([1.0, 2.0], [1.0, 2.01]), threshold=0.05)["valid_steps"] == 2


def test_model_metrics_counts_parameters_from_saved_weights():
    weights = {"rnn/kernel": np.zeros((1, 120)), "head/bias": np.zeros(1)}
    history = pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25], "val_loss": [0.4, 0.125]})
    metrics = model_metrics(weights, history, table([0.0], [0.0]), table([1.0, 1.0], [1.0, 0.0]), 0.05)
    assert metrics["n_params"] == 121
    assert (metrics["train_loss"], metrics["val_loss"]) == (0.25, 0.125)
    assert metrics["one_step_val_rmse"] == rounded(np.sqrt(0.5))
