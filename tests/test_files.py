import os
import time

import numpy as np
import pandas as pd
import pytest

from stages.cli import UserError
from stages.files import load_npz, read_input, save_npz, write_bytes, write_csv, write_json


def test_save_npz_is_byte_identical_across_time_and_key_order(tmp_path):
    arrays = {"b": np.arange(6.0).reshape(2, 3), "a": np.ones(3, np.float32)}
    save_npz(tmp_path / "one.npz", arrays)
    time.sleep(2.1)  # zip timestamps have 2 s resolution
    save_npz(tmp_path / "two.npz", dict(reversed(list(arrays.items()))))
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    loaded = load_npz(tmp_path / "one.npz")
    assert sorted(loaded) == ["a", "b"]
    np.testing.assert_array_equal(loaded["b"], arrays["b"])
    assert loaded["a"].dtype == np.float32


def test_json_and_csv_are_stable(tmp_path):
    write_json(tmp_path / "m.json", {"b": 0.1, "a": {"z": 1, "y": 2}})
    assert (tmp_path / "m.json").read_text() == '{\n  "a": {\n    "y": 2,\n    "z": 1\n  },\n  "b": 0.1\n}\n'
    write_csv(tmp_path / "t.csv", pd.DataFrame({"x": [0.1, 1 / 3], "n": [1, 2]}))
    assert (tmp_path / "t.csv").read_bytes() == b"x,n\n0.1,1\n0.3333333333333333,2\n"


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    write_bytes(path, b"good")

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_bytes(path, b"new")
    assert path.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_read_input_names_the_stage_to_rerun(tmp_path):
    with pytest.raises(UserError, match=r"missing; re-run the stage that makes it: dvc repro windows"):
        read_input(tmp_path / "windows.npz", load_npz, "windows")
    (tmp_path / "windows.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UserError, match=r"cannot be read .*re-run: dvc repro --force windows"):
        read_input(tmp_path / "windows.npz", load_npz, "windows")
