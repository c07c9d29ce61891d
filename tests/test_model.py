import json
import subprocess
import sys

import numpy as np
import pytest

from stages.cli import UserError
from stages.model import build_model, load_weights, orthogonal, orthonormal_columns, weight_arrays
from tests.dvc_repo import ROOT


@pytest.mark.parametrize("cell, n_params", [("gru", 5201), ("lstm", 6761), ("simple_rnn", 1721)])
def test_parameter_counts_match_the_tutorial(keras, cell, n_params):
    assert build_model(keras, cell, 40, 20, seed=0).count_params() == n_params


def test_weights_depend_on_the_seed_only_not_on_what_was_built_before(keras):
    first = weight_arrays(build_model(keras, "gru", 8, 20, seed=3))
    build_model(keras, "lstm", 8, 20, seed=3)
    keras.random.normal((2,))  # global random state moves on
    again = weight_arrays(build_model(keras, "gru", 8, 20, seed=3))
    other = weight_arrays(build_model(keras, "gru", 8, 20, seed=4))
    assert sorted(first) == [
        f"gru/{name}"
        for name in (
            "head/bias",
            "head/kernel",
            "rnn/gru_cell/bias",
            "rnn/gru_cell/kernel",
            "rnn/gru_cell/recurrent_kernel",
        )
    ]
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["gru/rnn/gru_cell/kernel"], other["gru/rnn/gru_cell/kernel"])


def test_load_weights_round_trip(keras):
    source = build_model(keras, "lstm", 8, 20, seed=1)
    target = build_model(keras, "lstm", 8, 20)  # zero weights, as the forecast stage builds it
    load_weights(target, weight_arrays(source), "models/lstm/seed_1.npz", "train@lstm")
    x = np.linspace(0, 1, 20, dtype=np.float32).reshape(1, 20, 1)
    np.testing.assert_array_equal(np.asarray(source(x)), np.asarray(target(x)))


def test_weights_of_another_architecture_name_the_file_and_stage(keras):
    saved = weight_arrays(build_model(keras, "gru", 8, 20, seed=0))
    model = build_model(keras, "gru", 40, 20, seed=0)
    with pytest.raises(UserError, match=r"models/gru/seed_0.npz holds weights of another model .*dvc repro train@gru"):
        load_weights(model, saved, "models/gru/seed_0.npz", "train@gru")


def test_orthonormal_columns_is_the_q_of_qr_with_a_positive_diagonal():
    matrix = np.random.default_rng(0).normal(size=(120, 40))
    q = orthonormal_columns(matrix)
    np.testing.assert_allclose(q.T @ q, np.eye(40), atol=1e-14)
    r = q.T @ matrix
    np.testing.assert_allclose(np.tril(r, -1), 0, atol=1e-12)
    assert (np.diag(r) > 0).all()
    lapack_q, lapack_r = np.linalg.qr(matrix)
    np.testing.assert_allclose(q, lapack_q * np.sign(np.diag(lapack_r)), atol=1e-12)


@pytest.mark.parametrize("shape", [(40, 120), (40, 160), (40, 40), (120, 40)])
def test_orthogonal_is_keras_orthogonal_without_lapack(keras, shape):
    ours = orthogonal(keras, 7)(shape, "float32")
    assert ours.shape == shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, np.asarray(keras.initializers.Orthogonal(seed=7)(shape)), atol=2e-6)


def test_import_keras_ignores_the_users_numerics_settings(tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"floatx": "float64", "epsilon": 0.1}))
    hostile = {
        "XLA_FLAGS": "--xla_cpu_enable_fast_math=true",
        "JAX_ENABLE_X64": "1",
        "JAX_DEFAULT_MATMUL_PRECISION": "bfloat16",
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "ONEDNN_DEFAULT_FPMATH_MODE": "BF16",
        "KERAS_HOME": str(tmp_path),
    }
    probe = (
        "import json, os; from stages.model import import_keras; keras = import_keras(); import jax; "
        "print(json.dumps([os.environ.get(k) for k in ('XLA_FLAGS', 'ONEDNN_MAX_CPU_ISA', 'ONEDNN_DEFAULT_FPMATH_MODE')]"
        " + [jax.config.jax_enable_x64, str(jax.config.jax_default_matmul_precision), keras.config.floatx(),"
        " keras.config.epsilon()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env={"PATH": "/usr/bin:/bin", **hostile}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    flags, isa, fpmath, x64, precision, floatx, epsilon = json.loads(out.stdout.splitlines()[-1])
    assert "fast_math" not in flags and "--xla_cpu_enable_platform_dependent_math=false" in flags
    assert (isa, fpmath, x64, precision, floatx, epsilon) == ("AVX2", None, False, "None", "float32", 1e-7)


def test_import_keras_skips_pyplot_and_leaves_it_importable():
    """Keras' import loads matplotlib.pyplot only for a helper; hidden during it (0.2 s a stage process),
    pyplot is not loaded afterwards, and a stage that draws can still import it."""
    probe = (
        "import sys; from stages.model import import_keras; import_keras(); "
        "loaded = 'matplotlib.pyplot' in sys.modules; import matplotlib.pyplot; print(loaded)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "False"
