"""Stage `train@<series>-<model>`: fit one recurrent model with the tutorial's semantics, fast.

Same as the tutorial's `model.fit(x, y, batch_size, epochs, validation_split, shuffle=True)`:
plain mini-batch steps over the training windows in a fresh order each epoch, the last batch
smaller, the epoch's loss the sample-weighted mean of its batch losses, val_loss on the final
weights of the epoch. Unlike `fit`, a whole chunk of epochs runs as one compiled XLA call, so
the framework's per-step and per-epoch overhead is paid ~10 times instead of 17,000.
"""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from stages.cli import UserError, run
from stages.executor import executor
from stages.files import keep_only, load_npz, read_input, save_npz, seed_path, write_csv
from stages.params import check_batch_size, load_params

CHUNKS = 10  # compiled calls per training, at least: a non-finite loss stops it early
MAX_CHUNK = 100  # epochs per compiled call: bounds the wait for Ctrl-C


def batch_mask(n_train, batch_size):
    """1 for real samples, 0 for the padding of the last batch; shape (n_batches, batch_size)."""
    n_batches = -(-n_train // batch_size)
    return (np.arange(n_batches * batch_size) < n_train).astype(np.float32).reshape(n_batches, batch_size)


def epoch_orders(n_train, batch_size, seed, shuffle):
    """Endless per-epoch sample indices, padded to whole batches: arrays of shape (n_batches, batch_size).

    One seeded generator for the whole run, drawn epoch by epoch (never all epochs in memory).
    """
    rng = np.random.default_rng(seed)
    padded = np.zeros(batch_mask(n_train, batch_size).size, dtype=np.int32)
    while True:
        padded[:n_train] = rng.permutation(n_train) if shuffle else np.arange(n_train)
        yield padded.reshape(-1, batch_size).copy()


def chunk_size(epochs):
    """Epochs per compiled call: the largest divisor of epochs (one compiled shape) that gives at
    least CHUNKS chunks of at most MAX_CHUNK epochs."""
    most = min(MAX_CHUNK, max(1, epochs // CHUNKS))
    return max(d for d in range(1, most + 1) if epochs % d == 0)


def make_optimizer(keras, train, n_batches):
    """train.optimizer at train.learning_rate; with train.schedule = cosine, the rate decays to 0
    along a half cosine over all train.epochs * n_batches steps (small last steps settle the weights)."""
    learning_rate = train["learning_rate"]
    if train["schedule"] == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, train["epochs"] * n_batches)
    return keras.optimizers.get({"class_name": train["optimizer"], "config": {"learning_rate": learning_rate}})


def fit(trainer, epochs, orders):
    """Train the trainer's model from its current weights for `epochs` epochs over `orders` (see
    epoch_orders), with a fresh optimizer state; trainer = make_trainer(...).

    Returns per-epoch loss and val_loss arrays, and the first epoch whose loss is not finite, or None.
    """
    start_training, run_epochs, keep_weights = trainer
    start_training()
    losses, val_losses = [], []
    step = chunk_size(epochs)
    for start in range(0, epochs, step):
        loss, val_loss = run_epochs(np.stack([next(orders) for _ in range(step)]))
        losses.append(loss)
        val_losses.append(val_loss)
        bad = ~np.isfinite(loss) | ~np.isfinite(val_loss)
        if bad.any():
            return np.concatenate(losses), np.concatenate(val_losses), start + int(np.argmax(bad)) + 1
    keep_weights()
    return np.concatenate(losses), np.concatenate(val_losses), None


def make_trainer(model, optimizer, data, mask):
    """The model's training, compiled once and run by fit() as often as wanted (once per seed):
    start() takes the model's current weights and the optimizer's initial state, run_epochs(chunk
    of epoch orders) -> (loss, val_loss) per epoch, keep_weights() puts the result in the model."""
    import keras

    trainer = jax_trainer if keras.backend.backend() == "jax" else tensorflow_trainer
    optimizer.build(model.trainable_variables)
    return trainer(model, optimizer, data, mask)


def jax_trainer(model, optimizer, data, mask):
    """Epochs as one pure jitted function of (weights, optimizer state, epoch orders)."""
    import jax
    import jax.numpy as jnp

    x_train, y_train, x_val, y_val = (
        jnp.asarray(data[k], jnp.float32) for k in ("x_train", "y_train", "x_val", "y_val")
    )
    mask = jnp.asarray(mask)
    non_trainable = [v.value for v in model.non_trainable_variables]
    initial_optimizer_state = [v.value for v in optimizer.variables]

    def squared_errors(trainable, x, y):
        prediction, _ = model.stateless_call(trainable, non_trainable, x)
        return jnp.mean(jnp.square(prediction - y), axis=(1, 2))

    def batch_loss(trainable, indices, weights):
        errors = squared_errors(trainable, x_train[indices], y_train[indices]) * weights
        return jnp.sum(errors) / jnp.sum(weights), jnp.sum(errors)

    def batch_step(state, batch):
        trainable, optimizer_state = state
        (_, error_sum), grads = jax.value_and_grad(batch_loss, has_aux=True)(trainable, *batch)
        trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
        return (trainable, optimizer_state), error_sum

    def epoch(state, epoch_order):
        state, error_sums = jax.lax.scan(batch_step, state, (epoch_order, mask))
        return state, (jnp.sum(error_sums) / len(x_train), jnp.mean(squared_errors(state[0], x_val, y_val)))

    scan_epochs = jax.jit(lambda state, chunk: jax.lax.scan(epoch, state, chunk))
    state = None

    def start_training():
        nonlocal state
        state = ([v.value for v in model.trainable_variables], initial_optimizer_state)

    def run_epochs(chunk):
        nonlocal state
        state, (loss, val_loss) = scan_epochs(state, jnp.asarray(chunk))
        return np.asarray(loss), np.asarray(val_loss)

    def keep_weights():
        for variable, value in zip(model.trainable_variables, state[0]):
            variable.assign(value)

    return start_training, run_epochs, keep_weights


def tensorflow_trainer(model, optimizer, data, mask):
    """The same epochs on TensorFlow (whose optimizers are stateful): one XLA-compiled tf.function."""
    import tensorflow as tf

    x_train, y_train, x_val, y_val = (
        tf.constant(data[k], tf.float32) for k in ("x_train", "y_train", "x_val", "y_val")
    )
    mask = tf.constant(mask)
    variables = model.trainable_variables
    initial_optimizer_state = [v.numpy() for v in optimizer.variables]

    def squared_errors(x, y):
        return tf.reduce_mean(tf.square(model(x) - y), axis=[1, 2])

    def batch_step(indices, weights):
        with tf.GradientTape() as tape:
            errors = squared_errors(tf.gather(x_train, indices), tf.gather(y_train, indices)) * weights
            loss = tf.reduce_sum(errors) / tf.reduce_sum(weights)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return tf.reduce_sum(errors)

    @tf.function(jit_compile=True)
    def scan_epochs(chunk):
        losses = tf.TensorArray(tf.float32, size=chunk.shape[0])
        val_losses = tf.TensorArray(tf.float32, size=chunk.shape[0])
        for e in tf.range(chunk.shape[0]):
            error_sum = tf.constant(0.0)
            for b in tf.range(mask.shape[0]):
                error_sum += batch_step(chunk[e, b], mask[b])
            losses = losses.write(e, error_sum / len(x_train))
            val_losses = val_losses.write(e, tf.reduce_mean(squared_errors(x_val, y_val)))
        return losses.stack(), val_losses.stack()

    def start_training():
        for variable, value in zip(optimizer.variables, initial_optimizer_state):
            variable.assign(value)

    def run_epochs(chunk):
        loss, val_loss = scan_epochs(tf.constant(chunk))
        return loss.numpy(), val_loss.numpy()

    return start_training, run_epochs, lambda: None


_trainers = {}  # in a worker process: the compiled training of the latest model and settings


def train_one(spec, train, data, seed):
    """Train the model `spec` once, from seed's initial weights and in seed's epoch orders. Runs in a
    worker process or on a cluster node (stages/executor.py); the compiled program is kept there for
    the next seed of the same model and settings, and fit() restarts it afresh, so a seed's bits never
    depend on what the process trained before. Returns (weights by variable path, loss, val_loss,
    first non-finite epoch or None)."""
    from stages.model import build_model, import_keras, load_weights, weight_arrays

    keras = import_keras(train["backend"])
    cell, units, length = spec["cell"], spec["units"], data["x_train"].shape[1]
    key = (cell, units, repr(sorted((k, v) for k, v in train.items() if k != "seeds")),
           hashlib.sha256(b"".join(np.ascontiguousarray(data[k]).tobytes() for k in sorted(data))).hexdigest())
    if key not in _trainers:
        _trainers.clear()
        model = build_model(keras, cell, units, length)
        mask = batch_mask(len(data["x_train"]), train["batch_size"])
        _trainers[key] = model, make_trainer(model, make_optimizer(keras, train, len(mask)), data, mask)
    model, trainer = _trainers[key]
    load_weights(model, weight_arrays(build_model(keras, cell, units, length, seed)), f"seed {seed}", "train")
    orders = epoch_orders(len(data["x_train"]), train["batch_size"], seed, train["shuffle"])
    losses, val_losses, diverged_at = fit(trainer, train["epochs"], orders)
    return weight_arrays(model), losses, val_losses, diverged_at


def train_and_write(stage, spec, train, data, seeds, model_dir, history_dir, advice):
    """Train `spec` once per seed where the executor says (stages/executor.py), then write each seed's
    weights and history in seed order. If any seed diverges, nothing is written and the error ends
    with `advice` (the setting to change)."""
    jobs = [(spec, train, data, seed) for seed in seeds]
    with executor() as place:
        results = place.run(train_one, jobs, f"{stage} ({train['epochs']} epochs)", lambda r: f"loss {r[1][-1]:.2e}")
    diverged = {seed: result[3] for seed, result in zip(seeds, results) if result[3] is not None}
    if diverged:
        where = ", ".join(f"seed {seed} at epoch {epoch}" for seed, epoch in sorted(diverged.items()))
        raise UserError(f"{stage} diverged: the loss is not finite ({where}); {advice}. No output was written.")
    for seed, (weights, losses, val_losses, _) in zip(seeds, results):
        history = pd.DataFrame({"epoch": np.arange(1, len(losses) + 1), "loss": losses, "val_loss": val_losses})
        save_npz(seed_path(model_dir, seed, ".npz"), weights)
        write_csv(seed_path(history_dir, seed, ".csv"), history)
    # DVC keeps these directories between runs (persist): drop the files of seeds no longer listed.
    keep_only(model_dir, {Path(seed_path(model_dir, seed, ".npz")).name for seed in seeds})
    keep_only(history_dir, {Path(seed_path(history_dir, seed, ".csv")).name for seed in seeds})


def main(argv):
    series, name, windows_path, model_dir, history_dir = argv
    params = load_params()
    spec, train = params["models"][name], params["train"]
    data = read_input(windows_path, load_npz, f"data@{series}")
    check_batch_size(train["batch_size"], len(data["x_train"]), series)
    advice = (f"train.optimizer = {train['optimizer']}, train.learning_rate = {train['learning_rate']}: "
              "lower train.learning_rate")
    train_and_write(f"train@{series}-{name}", spec, train, data, train["seeds"], model_dir, history_dir, advice)


if __name__ == "__main__":
    run(main)
