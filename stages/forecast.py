"""Stage `forecast@<series>-<model>`: closed-loop forecast, and one-step predictions, in the series' units.

Closed loop as in the tutorial: start from a window of true values, predict the next sample from
the last L values, append it, repeat. Without a hold-out (the tutorial's protocol) it starts from
the first window's targets y[1..L] and step k predicts y[L + k], written at that sample (the tutorial
plots it one position early); with one, it starts from the last L values before the cut and runs
across the held-out part. One-step predictions see the true past at every step (spans()). The whole loop is one compiled
XLA call instead of one `model.predict` per step, compiled once for all seeds of the model.
"""

import numpy as np
import pandas as pd

from stages.cli import UserError, run
from stages.data import to_model_units, to_series_units
from stages.files import load_json, load_npz, read_input, seed_path, write_csv
from stages.params import load_params, series_entry


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


def load_series(fit_path, holdout_path, scaling_path, stage):
    """The whole series (x, y in its own units: the fit part, then the held-out part), how many values
    are held out, and the scaling statistics (stages/data.py)."""
    fit, held_out = (read_input(path, pd.read_csv, stage) for path in (fit_path, holdout_path))
    return pd.concat([fit, held_out], ignore_index=True), len(held_out), read_input(scaling_path, load_json, stage)


def first_forecast(n_values, n_held_out, length):
    """The first sample the closed loop predicts: after the first window's targets y[1..L] (the tutorial's
    protocol) when nothing is held out, else the first held-out value."""
    return length + 1 if n_held_out == 0 else n_values - n_held_out


def spans(n_values, n_held_out, length, n_val, horizon):
    """(first sample, number of samples) of each part that is scored: the closed loop, the one-step
    predictions, and the closed loop that selects a tuning candidate. Without a hold-out, the tutorial's:
    one-step over the validation windows' targets. With one, the evaluation is the held-out part and the
    selection the validation span before it: no held-out value decides anything."""
    first = first_forecast(n_values, n_held_out, length)
    if n_held_out == 0:
        loop = (first, horizon or n_values - first)
        return {"closed_loop": loop, "one_step": (n_values - n_val, n_val), "selection": loop}
    return {"closed_loop": (first, horizon or n_held_out), "one_step": (first, n_held_out),
            "selection": (first - n_val, n_val)}


def inputs_before(y, first, count, length):
    """The windows y[t - L : t] before each of count samples from first: shape (count, L, 1)."""
    return np.stack([y[t - length : t] for t in range(first, first + count)])[..., None]


def forecast_table(series, first, predictions):
    """step, x, truth, prediction; step k predicts sample first + k - 1."""
    samples = series.iloc[first : first + len(predictions)]
    steps = np.arange(1, len(predictions) + 1)
    return pd.DataFrame(
        {"step": steps, "x": samples["x"].to_numpy(), "truth": samples["y"].to_numpy(), "prediction": predictions}
    )


def one_step_table(series, first, length, predictions):
    """window, x, truth, prediction; window i (inputs y[i:i+L]) predicts sample i + L."""
    samples = series.iloc[first : first + len(predictions)]
    return pd.DataFrame(
        {
            "window": np.arange(first - length, first - length + len(predictions)),
            "x": samples["x"].to_numpy(),
            "truth": samples["y"].to_numpy(),
            "prediction": predictions,
        }
    )


def main(argv):
    series_name, name, fit_path, holdout_path, scaling_path, windows_path, model_dir, forecast_dir, one_step_dir = argv
    params = load_params()
    spec, length, seeds = params["models"][name], params["windows"]["length"], params["train"]["seeds"]
    stage, trainer = f"data@{series_name}", f"train@{series_name}-{name}"
    series, n_held_out, stats = load_series(fit_path, holdout_path, scaling_path, stage)
    n_val = len(read_input(windows_path, load_npz, stage)["x_val"])
    span = spans(len(series), n_held_out, length, n_val, series_entry(params, series_name)["horizon"])
    paths = {seed: seed_path(model_dir, seed, ".npz") for seed in seeds}
    weights = {seed: read_input(path, load_npz, trainer) for seed, path in paths.items()}

    from stages.model import build_model, import_keras, load_weights

    keras = import_keras()
    model = build_model(keras, spec["cell"], spec["units"], length)
    (first, horizon), (one_first, one_count) = span["closed_loop"], span["one_step"]
    closed_loop, one_step = forecaster(model, horizon)
    y = to_model_units(series["y"].to_numpy(), stats)
    start, one_step_inputs = y[first - length : first], inputs_before(y, one_first, one_count, length)
    tables = {}
    for seed in seeds:
        load_weights(model, weights[seed], paths[seed], trainer)
        trainable = [v.value for v in model.trainable_variables]
        loop, teacher_forced = closed_loop(trainable, start), one_step(trainable, one_step_inputs)
        if not (np.isfinite(loop).all() and np.isfinite(teacher_forced).all()):
            # Vega, `dvc plots` and the metrics cannot show NaN or infinity: refuse before writing.
            raise UserError(
                f"forecast@{series_name}-{name}: the model predicts a value that is not finite; its weights "
                f"({paths[seed]}) "
                f"are unusable: lower train.learning_rate and re-run: dvc repro {trainer}. No output was written."
            )
        tables[seed] = (forecast_table(series, first, to_series_units(loop, stats)),
                        one_step_table(series, one_first, length, to_series_units(teacher_forced, stats)))
    for seed, (forecast, teacher_forced) in tables.items():
        write_csv(seed_path(forecast_dir, seed, ".csv"), forecast)
        write_csv(seed_path(one_step_dir, seed, ".csv"), teacher_forced)


if __name__ == "__main__":
    run(main)
