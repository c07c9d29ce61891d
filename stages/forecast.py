"""Stage `forecast@<model>`: closed-loop forecast, and one-step predictions on the validation windows.

Closed loop as in the tutorial: start from the first window's targets y[1..L], predict the next
sample from the last L values, append it, repeat. Step k predicts y[L + k] and is written at that
sample (the tutorial plots it one position early, at k + L - 1). The whole loop is one compiled
XLA call instead of one `model.predict` per step.
"""

import numpy as np
import pandas as pd

from stages.cli import UserError, run
from stages.files import load_npz, read_input, write_csv
from stages.params import load_params


def next_sample(model):
    """A pure function: windows of shape (n, L) -> the model's prediction of the sample after each."""
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def predict(windows):
        prediction, _ = model.stateless_call(trainable, non_trainable, windows[:, :, None])
        return prediction[:, -1, 0]

    return predict


def closed_loop(model, start, horizon):
    """Predict `horizon` samples after the window `start`, each fed back as the newest input."""
    import jax
    import jax.numpy as jnp

    predict = next_sample(model)

    def step(window, _):
        following = predict(window[None])[0]
        return jnp.append(window[1:], following), following

    loop = jax.jit(lambda window: jax.lax.scan(step, window, length=horizon)[1])
    return np.asarray(loop(jnp.asarray(start, jnp.float32)), dtype=np.float64)


def one_step(model, inputs):
    """Teacher-forced prediction of the sample after each window of inputs (n, L, 1)."""
    import jax

    return np.asarray(jax.jit(next_sample(model))(inputs[..., 0].astype(np.float32)), dtype=np.float64)


def forecast_table(signal, length, predictions):
    """step, x, truth, prediction; step k predicts sample length + k."""
    samples = signal.iloc[length + 1 : length + 1 + len(predictions)]
    steps = np.arange(1, len(predictions) + 1)
    return pd.DataFrame(
        {"step": steps, "x": samples["x"].to_numpy(), "truth": samples["y"].to_numpy(), "prediction": predictions}
    )


def one_step_table(signal, length, predictions):
    """window, x, truth, prediction for the validation windows; window i predicts sample i + length."""
    first = len(signal) - length - len(predictions)
    samples = signal.iloc[first + length : first + length + len(predictions)]
    return pd.DataFrame(
        {
            "window": np.arange(first, first + len(predictions)),
            "x": samples["x"].to_numpy(),
            "truth": samples["y"].to_numpy(),
            "prediction": predictions,
        }
    )


def main(argv):
    name, signal_path, windows_path, model_dir, forecast_path, one_step_path = argv
    params = load_params()
    spec, length = params["models"][name], params["windows"]["length"]
    horizon = params["forecast"]["horizon"] or params["signal"]["n_points"] - length - 1
    signal = read_input(signal_path, pd.read_csv, "generate")
    windows = read_input(windows_path, load_npz, "windows")
    weights_path = f"{model_dir}/weights.npz"
    weights = read_input(weights_path, load_npz, f"train@{name}")

    from stages.model import build_model, import_keras, load_weights

    keras = import_keras()
    model = build_model(keras, spec["cell"], spec["units"], length)
    load_weights(model, weights, weights_path, f"train@{name}")
    start = signal["y"].to_numpy()[1 : length + 1]
    loop, teacher_forced = closed_loop(model, start, horizon), one_step(model, windows["x_val"])
    if not (np.isfinite(loop).all() and np.isfinite(teacher_forced).all()):
        # Vega, `dvc plots` and the metrics cannot show NaN or infinity: refuse before writing.
        raise UserError(
            f"forecast@{name}: the model predicts a value that is not finite; its weights ({weights_path}) "
            f"are unusable: lower train.learning_rate and re-run: dvc repro train@{name}. No output was written."
        )
    write_csv(forecast_path, forecast_table(signal, length, loop))
    write_csv(one_step_path, one_step_table(signal, length, teacher_forced))


if __name__ == "__main__":
    run(main)
