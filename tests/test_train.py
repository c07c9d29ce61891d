import os
import subprocess
import sys

import numpy as np
import pytest

from stages.model import build_model, load_weights, weight_arrays
from stages.train import batch_mask, chunk_size, epoch_orders, fit, make_optimizer, make_trainer, train_one


def orders_of(n_train, epochs, batch_size, seed, shuffle):
    orders = epoch_orders(n_train, batch_size, seed, shuffle)
    return np.stack([next(orders) for _ in range(epochs)])


def test_epoch_orders_cover_every_window_once_per_epoch():
    order, mask = orders_of(23, 4, 10, seed=0, shuffle=True), batch_mask(23, 10)
    assert order.shape == (4, 3, 10) and mask.shape == (3, 10)
    assert mask.sum() == 23 and mask[-1].tolist() == [1, 1, 1] + [0] * 7  # the last batch holds 3
    for epoch in order:
        assert sorted(epoch.reshape(-1)[mask.reshape(-1) == 1]) == list(range(23))
    assert not np.array_equal(order[0], order[1])  # a fresh order each epoch
    np.testing.assert_array_equal(order, orders_of(23, 4, 10, 0, True))
    assert not np.array_equal(order, orders_of(23, 4, 10, 1, True))


def test_epoch_orders_without_shuffle_are_sequential():
    assert orders_of(5, 2, 2, seed=0, shuffle=False)[1].tolist() == [[0, 1], [2, 3], [4, 0]]


def test_chunk_size_divides_the_epochs():
    assert chunk_size(1000) == 100
    assert chunk_size(999) == 37
    assert chunk_size(7) == 1
    assert chunk_size(1_000_000) == 100


@pytest.mark.parametrize("schedule, last_rate", [("constant", 0.01), ("cosine", 0.0)])
def test_make_optimizer_keeps_or_decays_the_learning_rate(keras, schedule, last_rate):
    train = {"optimizer": "adam", "learning_rate": 0.01, "schedule": schedule, "epochs": 3}
    optimizer = make_optimizer(keras, train, n_batches=5)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    optimizer.iterations.assign(15)  # after the last of 3 epochs of 5 batches
    assert float(optimizer.learning_rate) == pytest.approx(last_rate)


def sgd(keras):
    return keras.optimizers.get({"class_name": "sgd", "config": {"learning_rate": 0.01}})


def test_fit_matches_keras_fit(keras, small_windows):
    """Same losses and weights as the tutorial's model.fit (without shuffling, to compare exactly)."""
    ours = build_model(keras, "gru", 8, 10, seed=0)
    reference = build_model(keras, "gru", 8, 10, seed=1)
    load_weights(reference, weight_arrays(ours), "weights", "train")
    reference.compile(loss="mean_squared_error", optimizer=sgd(keras))
    data = small_windows
    history = reference.fit(
        data["x_train"],
        data["y_train"],
        validation_data=(data["x_val"], data["y_val"]),
        batch_size=10,
        epochs=3,
        shuffle=False,
        verbose=0,
    ).history
    n_train = len(data["x_train"])
    orders, mask = epoch_orders(n_train, 10, 0, shuffle=False), batch_mask(n_train, 10)
    trainer = make_trainer(ours, sgd(keras), data, mask)
    losses, val_losses, diverged_at = fit(trainer, 3, orders)
    assert diverged_at is None
    np.testing.assert_allclose(losses, history["loss"], rtol=1e-5)
    np.testing.assert_allclose(val_losses, history["val_loss"], rtol=1e-5)
    for name, array in weight_arrays(reference).items():
        np.testing.assert_allclose(weight_arrays(ours)[name], array, atol=1e-6)


def test_a_reused_trainer_starts_afresh(keras, small_windows):
    """A trainer trains seed after seed: the second fit from the same weights repeats the first exactly."""
    model = build_model(keras, "simple_rnn", 4, 10, seed=0)
    initial = weight_arrays(model)
    trainer = make_trainer(model, sgd(keras), small_windows, batch_mask(45, 10))
    runs = []
    for _ in range(2):
        load_weights(model, initial, "weights", "train")
        losses, _, _ = fit(trainer, 20, epoch_orders(45, 10, 0, shuffle=True))
        runs.append((losses, weight_arrays(model)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_fit_stops_at_the_first_non_finite_loss(keras, small_windows):
    model = build_model(keras, "simple_rnn", 4, 10, seed=0)
    optimizer = keras.optimizers.get({"class_name": "sgd", "config": {"learning_rate": 1e12}})
    trainer = make_trainer(model, optimizer, small_windows, batch_mask(45, 10))
    losses, _, diverged_at = fit(trainer, 10, epoch_orders(45, 10, 0, shuffle=True))
    assert diverged_at is not None and 1 <= diverged_at <= 10
    assert not np.isfinite(losses[diverged_at - 1]) and np.isfinite(losses[: diverged_at - 1]).all()


def test_fit_gives_a_seed_the_same_bits_whatever_the_process_trained_before(keras, small_windows):
    spec = {"cell": "gru", "units": 4}
    train = {"backend": keras.backend.backend(), "epochs": 3, "batch_size": 10, "optimizer": "adam",
             "learning_rate": 0.01, "schedule": "cosine", "shuffle": True}
    other = {**train, "learning_rate": 0.05}
    alone = train_one(spec, train, small_windows, 2)  # a fresh compiled program
    runs = [train_one(spec, train, small_windows, 0), train_one(spec, other, small_windows, 2),
            train_one(spec, train, small_windows, 1), train_one(spec, train, small_windows, 2)]
    for ours, theirs in zip(alone[1:3], runs[3][1:3]):
        np.testing.assert_array_equal(ours, theirs)
    assert all(np.array_equal(alone[0][k], runs[3][0][k]) for k in alone[0])
    assert not np.array_equal(runs[0][1], runs[3][1])  # the seeds differ
    assert not np.array_equal(runs[1][1], runs[3][1])  # and so do the settings


@pytest.mark.slow  # a second process on the TensorFlow backend: ~30 s
def test_the_tensorflow_trainer_passes_the_same_tests():
    """The tests above, on train.backend=tensorflow (a process can hold one Keras backend only)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "fit_ or afresh"],
        env={**os.environ, "TEST_BACKEND": "tensorflow"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "4 passed" in result.stdout, result.stdout + result.stderr
