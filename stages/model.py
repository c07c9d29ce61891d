"""Building the recurrent models, and saving and loading their weights without timestamps.

Only the stages that train or run a model import this module (it imports Keras and its backend).
"""

import os

import numpy as np

from stages.cli import UserError

LAYERS = {"gru": "GRU", "lstm": "LSTM", "simple_rnn": "SimpleRNN"}

# Pinned before the backend is imported: thread pools, oneDNN kernels and non-deterministic
# TensorFlow ops change float results.
_ENVIRONMENT = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_DETERMINISTIC_OPS": "1",
}
_COMPILATION_CACHE = {
    "JAX_COMPILATION_CACHE_DIR": os.path.abspath(".cache/jax"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}


def import_keras(backend="jax"):
    """Keras on `backend` (jax or tensorflow), with the environment that makes its results repeatable.

    JAX keeps compiled XLA programs in .cache/jax, so that stage processes after the first skip
    most compilation (the same program either way, so the same results).
    """
    os.environ.update(_ENVIRONMENT, KERAS_BACKEND=backend)
    for name, value in _COMPILATION_CACHE.items():
        os.environ.setdefault(name, value)
    import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(f"Keras was imported on {keras.backend.backend()} before {backend} was selected")
    return keras


def build_model(keras, cell, units, length, seed=None):
    """cell(units, return_sequences=True) + Dense(1), the tutorial's network, its weights drawn from seed.

    Each initializer gets its own seed instead of `keras.utils.set_random_seed`: the weights then
    depend on nothing global (not on what was built before), and Keras' global seeding would
    import TensorFlow (seconds) even on the JAX backend. seed=None gives zero weights, for a model
    whose weights are loaded next: it skips compiling the random initializers (~0.8 s).
    """
    init = keras.initializers
    if seed is None:
        kernel, recurrent, head_kernel = init.Zeros(), init.Zeros(), init.Zeros()
    else:
        kernel, recurrent = init.GlorotUniform(seed=seed), init.Orthogonal(seed=seed + 1)
        head_kernel = init.GlorotUniform(seed=seed + 2)
    layer = getattr(keras.layers, LAYERS[cell])
    rnn = layer(units, return_sequences=True, kernel_initializer=kernel, recurrent_initializer=recurrent, name="rnn")
    head = keras.layers.Dense(1, kernel_initializer=head_kernel, name="head")
    return keras.Sequential([keras.Input((length, 1)), rnn, head], name=cell)


def weight_arrays(model):
    """The model's weights by variable path: the content of models/<model>/weights.npz."""
    return {variable.path: np.asarray(variable.value) for variable in model.weights}


def load_weights(model, arrays, path, stage):
    """Set weights saved by weight_arrays; a file of another architecture names the stage to re-run."""
    expected = {variable.path: tuple(variable.shape) for variable in model.weights}
    found = {name: tuple(array.shape) for name, array in arrays.items()}
    if found != expected:
        raise UserError(
            f"{path} holds weights of another model ({_shapes(found)}), not the one params.yaml describes "
            f"({_shapes(expected)}); re-run: dvc repro {stage}"
        )
    for variable in model.weights:
        variable.assign(arrays[variable.path])


def _shapes(shapes):
    return ", ".join(f"{name} {shape}" for name, shape in sorted(shapes.items()))
