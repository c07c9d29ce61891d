import numpy as np
import pytest

from stages.cli import UserError
from stages.data import make_windows, prepare, split, to_model_units, to_series_units
from stages.generate import damped_oscillation
from stages.params import SERIES_DEFAULTS


def test_tutorial_shapes_and_targets_shifted_by_one():
    y = damped_oscillation(5.0, 5, 200)["y"].to_numpy()
    inputs, targets = make_windows(y, 20)
    assert inputs.shape == targets.shape == (180, 20, 1)
    np.testing.assert_array_equal(inputs[7, :, 0], y[7:27])
    np.testing.assert_array_equal(targets[7, :, 0], y[8:28])
    np.testing.assert_array_equal(targets[0, :, 0], y[1:21])


def test_split_keeps_the_last_windows_for_validation():
    inputs, targets = make_windows(np.arange(30.0), 10)
    parts = split(inputs, targets, 0.1)
    assert [len(parts[k]) for k in ("x_train", "y_train", "x_val", "y_val")] == [18, 18, 2, 2]
    np.testing.assert_array_equal(parts["x_val"][0, :, 0], np.arange(18.0, 28.0))


def write(tmp_path, text):
    path = tmp_path / "series.csv"
    path.write_text(text)
    return str(path)


def entry(csv, **keys):
    return {**SERIES_DEFAULTS, "csv": csv, "column": "value", "x": "year", **keys}


def series_text(n, value=lambda i: i % 11):
    return "year,value\n" + "".join(f"{1900 + i},{value(i)}\n" for i in range(n))


@pytest.mark.parametrize(
    "text, keys, message",
    [
        (None, {}, "series.s.csv = '{csv}': no such file"),
        ("year,value\n1,\"unclosed\n", {}, "series.s.csv = '{csv}': not a readable CSV file"),
        (series_text(60), {"column": "values"}, "series.s.column = 'values': no such column in {csv}; it has year, value"),
        (series_text(60, lambda i: "n/a" if i == 7 else i), {}, "series.s.column = 'value': 1 value(s) in {csv} are "
         "missing or not finite numbers, the first at data row 8 ('n/a')"),
        (series_text(60, lambda i: "" if i == 3 else i), {}, "the first at data row 4 (''); a series must have no gaps"),
        (series_text(60).replace("1910,10\n1911,0\n", "1911,0\n1910,10\n"), {},
         "series.s.x: must rise in equal steps of 1"),
        (series_text(60).replace("\n1930,", "\n1931,"), {}, "from data row 30 to 31 it goes from 1929 to 1931"),
        (series_text(60), {"holdout": 60}, "series.s.holdout = 60: must be < the series' 60 values"),
        (series_text(60), {"holdout": 40}, "series.s: 60 values, 40 held out, leave 20 to fit: too few for "
         "windows.length = 20 (a training and a validation window need 22)"),
    ],
)
def test_a_bad_series_file_is_one_clear_message_naming_series_and_key(tmp_path, text, keys, message):
    csv = str(tmp_path / "missing.csv") if text is None else write(tmp_path, text)
    with pytest.raises(UserError) as error:
        prepare("s", entry(csv, **keys), {"length": 20, "val_fraction": 0.1})
    assert message.format(csv=csv) in str(error.value)


def test_the_hold_out_is_cut_before_scaling_and_windows(tmp_path):
    csv = write(tmp_path, series_text(100, lambda i: float(i)))
    fit, held_out, stats, windows = prepare("s", entry(csv, holdout=30), {"length": 10, "val_fraction": 0.2})
    assert fit["x"].tolist() == list(range(1900, 1970)) and held_out["x"].tolist() == list(range(1970, 2000))
    assert stats == {"scale": "standard", "mean": 34.5, "std": float(np.std(np.arange(70.0)))}  # of values 0..69 only
    assert windows["y_val"][-1, -1, 0] == (69 - 34.5) / stats["std"]  # the last target is the last value before the cut
    np.testing.assert_allclose(to_series_units(to_model_units(fit["y"].to_numpy(), stats), stats), np.arange(70.0), atol=1e-12)
    edited = write(tmp_path, series_text(100, lambda i: float(i) if i < 70 else -1e6))
    again = prepare("s", entry(edited, holdout=30), {"length": 10, "val_fraction": 0.2})
    assert again[2] == stats and all((again[3][k] == windows[k]).all() for k in windows)


def test_unscaled_values_are_untouched_even_negative_zero():
    y = np.array([-0.0, 1.5, -2.25])
    assert to_model_units(y, {"scale": "none"}) is y and to_series_units(y, {"scale": "none"}) is y
