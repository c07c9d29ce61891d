import numpy as np
import pytest

from stages.cli import UserError
from stages.model import build_model, load_weights, weight_arrays


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
    load_weights(target, weight_arrays(source), "models/lstm/weights.npz", "train@lstm")
    x = np.linspace(0, 1, 20, dtype=np.float32).reshape(1, 20, 1)
    np.testing.assert_array_equal(np.asarray(source(x)), np.asarray(target(x)))


def test_weights_of_another_architecture_name_the_file_and_stage(keras):
    saved = weight_arrays(build_model(keras, "gru", 8, 20, seed=0))
    model = build_model(keras, "gru", 40, 20, seed=0)
    with pytest.raises(UserError, match=r"models/gru/weights.npz holds weights of another model .*dvc repro train@gru"):
        load_weights(model, saved, "models/gru/weights.npz", "train@gru")
