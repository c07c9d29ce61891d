"""Stage `forecast@<model>`: closed-loop forecast, and one-step predictions on the validation windows.

Closed loop as in the tutorial: start from the first window's targets y[1..L], predict the next
sample from the last L values, append it, repeat. Step k predicts y[L + k] and is written at that
sample (the tutorial plots it one position early, at k + L - 1). The whole loop is one compiled
XLA call instead of one `model.predict` per step, compiled once for all seeds of the model.
"""

import numpy as np
import pandas as pd

from stages.cli import UserError, run
from stages.files import load_npz, read_input, seed_path, write_csv
from stages.params import load_params


def next_sample(model):
    """A pure function: (trainable weights, windows of shape (n, L)) -> the model's prediction of
    the sample after each window. The weights are an argument, so one compiled program serves every seed."""
    non_trainable = [v.value for v in model.non_trainable_variables]

    def predict(trainable, windows):
        prediction, _ = model.stateless_call(trainable, non_trainable, windows[:, :, None])
        return prediction[:, -1, 0]

    return predict


def forecaster(model, horizon):
    """closed_loop(weights, start): predict `horizon` samples after the window `start`, each fed back
    as the newest input; one_step(weights, inputs (n, L, 1)): the teacher-forced prediction after each
    window. Weights are the model's trainable arrays in order; both are compiled once."""
    import jax
    import jax.numpy as jnp

    predict = next_sample(model)

    def loop(trainable, start):
        def step(window, _):
            following = predict(trainable, window[None])[0]
            return jnp.append(window[1:], following), following

        return jax.lax.scan(step, start, length=horizon)[1]

    loop, one = jax.jit(loop), jax.jit(predict)

    def closed_loop(trainable, start):
        return np.asarray(loop(trainable, jnp.asarray(start, jnp.float32)), dtype=np.float64)

    def one_step(trainable, inputs):
        return np.asarray(one(trainable, jnp.asarray(inputs[..., 0], jnp.float32)), dtype=np.float64)

    return closed_loop, one_step


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
    name, signal_path, windows_path, model_dir, forecast_dir, one_step_dir = argv
    params = load_params()
    spec, length, seeds = params["models"][name], params["windows"]["length"], params["train"]["seeds"]
    horizon = params["forecast"]["horizon"] or params["signal"]["n_points"] - length - 1
    signal = read_input(signal_path, pd.read_csv, "generate")
    windows = read_input(windows_path, load_npz, "windows")
    paths = {seed: seed_path(model_dir, seed, ".npz") for seed in seeds}
    weights = {seed: read_input(path, load_npz, f"train@{name}") for seed, path in paths.items()}

    from stages.model import build_model, import_keras, load_weights

    keras = import_keras()
    model = build_model(keras, spec["cell"], spec["units"], length)
    closed_loop, one_step = forecaster(model, horizon)
    start = signal["y"].to_numpy()[1 : length + 1]
    tables = {}
    for seed in seeds:
        load_weights(model, weights[seed], paths[seed], f"train@{name}")
        trainable = [v.value for v in model.trainable_variables]
        loop, teacher_forced = closed_loop(trainable, start), one_step(trainable, windows["x_val"])
        if not (np.isfinite(loop).all() and np.isfinite(teacher_forced).all()):
            # Vega, `dvc plots` and the metrics cannot show NaN or infinity: refuse before writing.
            raise UserError(
                f"forecast@{name}: the model predicts a value that is not finite; its weights ({paths[seed]}) "
                f"are unusable: lower train.learning_rate and re-run: dvc repro train@{name}. No output was written."
            )
        tables[seed] = forecast_table(signal, length, loop), one_step_table(signal, length, teacher_forced)
    for seed, (forecast, teacher_forced) in tables.items():
        write_csv(seed_path(forecast_dir, seed, ".csv"), forecast)
        write_csv(seed_path(one_step_dir, seed, ".csv"), teacher_forced)


if __name__ == "__main__":
    run(main)
