"""Building the recurrent models, and saving and loading their weights without timestamps.

Only the stages that train or run a model import this module (it imports Keras and its backend).
"""

import math
import os
import sys

import numpy as np

from stages.cli import UserError

LAYERS = {"gru": "GRU", "lstm": "LSTM", "simple_rnn": "SimpleRNN"}

# Set before the backend is imported, whatever the user's shell says: each changes float results
# on some CPU. XLA: Eigen on one thread, no CPU-specific math (YNNPACK's consistent arithmetic)
# and AVX2 code even where the CPU has AVX-512; XLA's matrix products run oneDNN's sgemm, whose
# kernels are picked from the CPU: AVX2 ones everywhere. TensorFlow: no oneDNN ops, deterministic ops.
_ENVIRONMENT = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false --xla_cpu_enable_platform_dependent_math=false "
    "--xla_cpu_max_isa=AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "JAX_PLATFORMS": "cpu",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_DETERMINISTIC_OPS": "1",
}
# Other variables of these libraries (x64, matmul precision, PRNG implementation, oneDNN's
# float math mode, ...) are dropped; these two only say where compiled programs are kept.
_DROPPED = ("JAX_", "XLA_", "TF_", "KERAS_", "ONEDNN_", "DNNL_")
_KEPT = ("JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_COMPILATION_CACHE")
_COMPILATION_CACHE = {
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}


def import_keras(backend="jax"):
    """Keras on `backend` (jax or tensorflow), with the environment that makes its results repeatable.

    JAX keeps compiled XLA programs in .cache/jax, so that stage processes after the first skip
    most compilation (the same program either way, so the same results). JAX's cache key covers
    the CPU (tests/test_cpu_independence.py), so a copied cache never runs another CPU's program.
    """
    for name in [n for n in os.environ if n.startswith(_DROPPED) and n not in _KEPT]:
        del os.environ[name]
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.abspath(".cache/jax"))
    os.environ.update(_ENVIRONMENT, **_COMPILATION_CACHE, KERAS_BACKEND=backend)
    # Keras imports matplotlib.pyplot only for its image-gallery helper, which takes a failed import for a
    # missing matplotlib: hidden during the import, it costs no stage process 0.2 s (unless already loaded).
    hidden = "matplotlib.pyplot" not in sys.modules
    if hidden:
        sys.modules["matplotlib.pyplot"] = None
    try:
        import keras
    finally:
        if hidden:
            del sys.modules["matplotlib.pyplot"]

    if keras.backend.backend() != backend:
        raise RuntimeError(f"Keras was imported on {keras.backend.backend()} before {backend} was selected")
    keras.config.set_floatx("float32")  # a keras.json in KERAS_HOME or ~/.keras may say otherwise
    keras.config.set_epsilon(1e-7)
    return keras


def orthonormal_columns(matrix):
    """Q of matrix = QR with R's diagonal positive, in float64, the same bits on every CPU.

    Keras' Orthogonal initializer gets this Q from LAPACK's QR and a sign fix; LAPACK runs on
    OpenBLAS kernels picked at run time from the CPU (or OPENBLAS_CORETYPE), which change the last
    bits. This is modified Gram-Schmidt, done twice (orthogonal to float64 precision), with exactly
    rounded sums (math.fsum) and elementwise IEEE operations only.
    """
    q = np.array(matrix, dtype=np.float64)
    for j in range(q.shape[1]):
        for _ in range(2):
            for i in range(j):
                q[:, j] -= math.fsum(q[:, i] * q[:, j]) * q[:, i]
        q[:, j] /= math.sqrt(math.fsum(q[:, j] * q[:, j]))
    return q


def orthogonal(keras, seed):
    """Keras' Orthogonal(seed=seed) initializer: the same normal draws, the QR by orthonormal_columns."""

    def initializer(shape, dtype=None):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        normal = keras.random.normal((max(rows, cols), min(rows, cols)), seed=seed)
        q = orthonormal_columns(np.asarray(normal))
        return (q if rows >= cols else q.T).reshape(shape).astype(dtype or keras.config.floatx())

    return initializer


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
        # Streams 3s, 3s + 1, 3s + 2: two seeds never share a random stream.
        kernel, recurrent = init.GlorotUniform(seed=3 * seed), orthogonal(keras, 3 * seed + 1)
        head_kernel = init.GlorotUniform(seed=3 * seed + 2)
    layer = getattr(keras.layers, LAYERS[cell])
    rnn = layer(units, return_sequences=True, kernel_initializer=kernel, recurrent_initializer=recurrent, name="rnn")
    head = keras.layers.Dense(1, kernel_initializer=head_kernel, name="head")
    return keras.Sequential([keras.Input((length, 1)), rnn, head], name=cell)


def weight_arrays(model):
    """The model's weights by variable path: the content of models/<model>/seed_<n>.npz."""
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
