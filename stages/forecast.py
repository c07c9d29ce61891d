"""Stage `forecast@<series>-<model>`: closed-loop forecast, and one-step predictions, in the series' units.

Closed loop as in the tutorial: start from a window of true values, predict the next sample from
the last L values, append it, repeat. Without a hold-out (the tutorial's protocol) it starts from
the first window's targets y[1..L] and step k predicts y[L + k], written at that sample (the tutorial
plots it one position early); with one, it starts from the last L values before the cut and runs
across the held-out part. One-step predictions see the true past at every step. The whole loop is one compiled
XLA call instead of one `model.predict` per step, compiled once for all seeds of the model.

Rolling origin (stages/scores.py): from every origin of protocol.json (data@<series>), the closed loop of
H steps from the true window before it, with the weights trained before the cut (no recalibration: only
the inputs move); every origin of every seed is one compiled call.
"""

import numpy as np
import pandas as pd

from stages.cli import UserError, run
from stages.data import to_model_units, to_series_units
from stages.files import load_json, load_npz, read_input, seed_path, write_csv
from stages.params import load_params
from stages.scores import rolling_table


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


def load_series(fit_path, holdout_path, protocol_path, scaling_path, stage):
    """The whole series (x, y in its own units: the fit part, then the held-out part), its protocol (where
    it is scored: stages/data.py) and the scaling statistics."""
    fit, held_out = (read_input(path, pd.read_csv, stage) for path in (fit_path, holdout_path))
    protocol, stats = (read_input(path, load_json, stage) for path in (protocol_path, scaling_path))
    return pd.concat([fit, held_out], ignore_index=True), protocol, stats


def rolling_forecaster(model, horizon):
    """rolling(weights of each seed, starts (n, L)) -> (seeds, n, horizon): from every start window, the
    closed loop of `horizon` steps, for every seed, in one compiled call (vmap over seeds, the windows a
    batch). Compiled once per shape."""
    import jax
    import jax.numpy as jnp

    predict = next_sample(model)

    def loop(trainable, starts):
        def step(windows, _):
            following = predict(trainable, windows)
            return jnp.concatenate([windows[:, 1:], following[:, None]], axis=1), following

        return jax.lax.scan(step, starts, length=horizon)[1].T

    batched = jax.jit(jax.vmap(loop, in_axes=(0, None)))

    def rolling(weights_per_seed, starts):
        stacked = [jnp.stack(arrays) for arrays in zip(*weights_per_seed)]
        return np.asarray(batched(stacked, jnp.asarray(starts, jnp.float32)), dtype=np.float64)

    return rolling


def rolling_origins(protocol, spans=("validation", "holdout")):
    """[(span, origin)] of the protocol's rolling origins, validation first."""
    return [(span, t) for span in spans for t in protocol["origins"][span]]


def windows_before(y, origins, length):
    """The true windows y[t - L : t] before each origin: shape (n, L)."""
    return np.stack([y[t - length : t] for _, t in origins])


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
    (series_name, name, fit_path, holdout_path, protocol_path, scaling_path, model_dir, forecast_dir, one_step_dir,
     rolling_dir) = argv
    params = load_params()
    spec, length, seeds = params["models"][name], params["windows"]["length"], params["train"]["seeds"]
    stage, trainer = f"data@{series_name}", f"train@{series_name}-{name}"
    series, protocol, stats = load_series(fit_path, holdout_path, protocol_path, scaling_path, stage)
    paths = {seed: seed_path(model_dir, seed, ".npz") for seed in seeds}
    weights = {seed: read_input(path, load_npz, trainer) for seed, path in paths.items()}

    from stages.model import build_model, import_keras, load_weights

    keras = import_keras()
    model = build_model(keras, spec["cell"], spec["units"], length)
    (first, horizon), (one_first, one_count) = protocol["closed_loop"], protocol["one_step"]
    closed_loop, one_step = forecaster(model, horizon)
    y = to_model_units(series["y"].to_numpy(), stats)
    start, one_step_inputs = y[first - length : first], inputs_before(y, one_first, one_count, length)
    origins = rolling_origins(protocol)
    tables, trainables = {}, []
    for seed in seeds:
        load_weights(model, weights[seed], paths[seed], trainer)
        trainables.append([v.value for v in model.trainable_variables])
        loop, teacher_forced = closed_loop(trainables[-1], start), one_step(trainables[-1], one_step_inputs)
        tables[seed] = [forecast_table(series, first, to_series_units(loop, stats)),
                        one_step_table(series, one_first, length, to_series_units(teacher_forced, stats))]
    # Every rolling origin of every seed in one compiled call.
    rolling = rolling_forecaster(model, protocol["horizon"])(trainables, windows_before(y, origins, length))
    for seed, predictions in zip(seeds, rolling):
        tables[seed].append(rolling_table(series, origins, to_series_units(predictions, stats)))
        if not all(np.isfinite(table["prediction"]).all() for table in tables[seed]):
            # Vega, `dvc plots` and the metrics cannot show NaN or infinity: refuse before writing.
            raise UserError(
                f"forecast@{series_name}-{name}: the model predicts a value that is not finite; its weights "
                f"({paths[seed]}) "
                f"are unusable: lower train.learning_rate and re-run: dvc repro {trainer}. No output was written."
            )
    for seed, (forecast, teacher_forced, rolling_forecasts) in tables.items():
        write_csv(seed_path(forecast_dir, seed, ".csv"), forecast)
        write_csv(seed_path(one_step_dir, seed, ".csv"), teacher_forced)
        write_csv(seed_path(rolling_dir, seed, ".csv"), rolling_forecasts)


if __name__ == "__main__":
    run(main)
