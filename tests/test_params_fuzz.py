"""Random edits to params.yaml end in success or in a clean validation error, never a traceback."""

import copy
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages import validate as validate_stage
from stages.cli import run
from stages.generate import damped_oscillation
from stages.cli import UserError
from stages.data import prepare
from stages.files import write_csv
from stages.params import SERIES_DEFAULTS, load_params, series_entry, split_point

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([0, 1, 2, -1, 3, 19, 20, 21, 199, 200, 201]),  # boundaries of the defaults
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 0.5, 1e-17, 0.999, 1 - 1e-16]),
    st.text(max_size=8),
    st.sampled_from(["gru", "lstm", "simple_rnn", "adam", "sgd", "10", "true", "[1, 2]"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def paths(params, prefix=()):
    """Every key path in the params, sections included."""
    for key, value in params.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from paths(value, prefix + (key,))


@st.composite
def edited_params(draw, default):
    params = copy.deepcopy(default)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        key_paths = list(paths(params))
        if not key_paths:
            break
        *parents, leaf = draw(st.sampled_from(key_paths))
        section = params
        for parent in parents:
            section = section[parent]
        edit = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        if edit == "set":
            section[leaf] = draw(ANY_VALUE)
        elif edit == "delete":
            del section[leaf]
        else:
            section[draw(st.text(min_size=1, max_size=12))] = draw(ANY_VALUE)
    return params


def run_validate_stage(tmp_path, params, monkeypatch):
    """The validate stage as DVC runs it; returns None on success or the message it exits with."""
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params, allow_unicode=True))
    monkeypatch.setattr(sys, "argv", ["validate", str(params_path), str(tmp_path / "params.ok"), "data/signal.csv"])
    try:
        run(validate_stage.main)
    except SystemExit as exit:
        return exit.code
    return None


DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=edited_params(DEFAULT))
def test_random_edits_end_in_success_or_a_clean_error(tmp_path, monkeypatch, params):
    message = run_validate_stage(tmp_path, params, monkeypatch)
    if message is not None:
        assert isinstance(message, str) and message.startswith("error: ") and "params.yaml is not valid" in message
        return
    # Valid: the data stage on the generated curve (when small enough to be quick) builds windows or
    # stops with a clean message, which names a series or windows key.
    valid = load_params(tmp_path / "params.yaml")
    n_points, length = valid["signal"]["n_points"], valid["windows"]["length"]
    if n_points * length > 1_000_000:
        return
    signal = damped_oscillation(**valid["signal"])
    assert np.isfinite(signal["y"]).all()
    write_csv(tmp_path / "signal.csv", signal)
    entry = {**series_entry(valid, "damped"), "csv": str(tmp_path / "signal.csv")} if "damped" in valid["series"] else {
        **SERIES_DEFAULTS, "csv": str(tmp_path / "signal.csv"), "column": "y", "x": "x"}
    try:
        _, _, _, parts = prepare("damped", entry, valid["windows"])
    except UserError as error:
        assert str(error).startswith(("series.damped", "windows.")), error
        return
    n_train = split_point(n_points - entry["holdout"] - length, valid["windows"]["val_fraction"])
    assert len(parts["x_train"]) == n_train >= 1 and len(parts["x_val"]) >= 1


@pytest.mark.parametrize("value", [math.nan, math.inf, "1e-2", [0.01], {"value": 0.01}, None])
def test_learning_rates_that_are_not_positive_finite_numbers(tmp_path, monkeypatch, value):
    params = copy.deepcopy(DEFAULT)
    params["train"]["learning_rate"] = value
    assert "train.learning_rate = " in run_validate_stage(tmp_path, params, monkeypatch)
