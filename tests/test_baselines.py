import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels

from stages import baselines
from stages.cli import UserError
from stages.data import protocol
from stages.generate import damped_oscillation
from stages.files import write_json
from stages.params import load_params, series_entry
from stages.scores import mase_scale, rmse

ROOT = Path(__file__).resolve().parents[1]
SUNSPOTS = Path(statsmodels.__file__).parent / "datasets/sunspots/sunspots.csv"
TINY = [1.0, 3.0, 2.0, 4.5, 4.0, 3.5]  # slope (3.5 - 1) / 5 = 0.5 and mean 3: exact in binary


@pytest.fixture(scope="module")
def sunspots():
    """Yearly sunspot numbers 1700..2008 as x, y."""
    frame = pd.read_csv(SUNSPOTS)
    return pd.DataFrame({"x": frame["YEAR"].astype(int), "y": frame["SUNACTIVITY"].astype(float)})


def test_an_ar_fitted_on_the_damped_curve_follows_its_exact_recurrence():
    # exp(-x/5) cos(x) sampled evenly obeys y[t] = 2 r cos(d) y[t-1] - r^2 y[t-2]: an AR(>= 2) fits it to rounding.
    y = damped_oscillation(5.0, 5, 200)["y"].tolist()
    fitted = baselines.fit_ar(y, 10, "aic")
    prediction = baselines.ar_forecast(fitted, y[:21], 179)  # the networks' closed loop: samples 21..199
    assert fitted["lags"] >= 2
    assert rmse(y[21:], prediction) < 1e-5


def test_simple_baselines_on_a_tiny_series():
    assert baselines.naive_forecast({}, TINY, 3) == [3.5, 3.5, 3.5]
    assert baselines.mean_forecast(baselines.fit_mean(TINY), TINY, 2) == [3.0, 3.0]
    assert baselines.drift_forecast(baselines.fit_drift(TINY), TINY, 3) == [4.0, 4.5, 5.0]
    assert baselines.seasonal_naive_forecast({"season": 4}, TINY, 5) == [2.0, 4.5, 4.0, 3.5, 2.0]
    # One step ahead each forecast starts again from the true past, with the fitted slope kept.
    assert baselines.one_step(baselines.drift_forecast, {"slope": 0.5}, TINY, [4, 5]) == [5.0, 4.5]
    assert baselines.one_step(baselines.seasonal_naive_forecast, {"season": 4}, TINY, [4, 5]) == [1.0, 3.0]


def test_the_mean_and_drift_are_exactly_rounded():
    # A float sum of ten 0.1 is 0.9999999999999999; the exact mean rounds once, to 0.1.
    assert baselines.fit_mean([0.1] * 10) == {"mean": 0.1}
    # Each step last + k * slope computed exactly, then rounded once (0.2 + 0.1 rounds as the float sum does).
    assert baselines.drift_forecast({"slope": 0.1}, [0.2], 2) == [0.30000000000000004, 0.4]


def test_ar_and_theta_agree_with_statsmodels_on_sunspots(sunspots):
    from statsmodels.tsa.ar_model import ar_select_order
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = sunspots["y"].to_numpy()[:269]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ar_select_order(y, 10, ic="aic", trend="c").model.fit()
        theta = ThetaModel(y, period=11, method="additive").fit()
    fitted = baselines.fit_ar(list(y), 10, "aic")
    assert fitted["lags"] == 9  # the classic choice for sunspots
    np.testing.assert_allclose(fitted["coefficients"], reference.params, rtol=1e-10)
    np.testing.assert_allclose(baselines.ar_forecast(fitted, list(y), 40), reference.forecast(40), rtol=1e-10)
    mine = baselines.fit_theta(list(y), 11)
    assert math.isclose(mine["b0"], theta.params["b0"], rel_tol=1e-12)
    np.testing.assert_allclose(baselines.theta_forecast(mine, list(y), 40), theta.forecast(40), rtol=1e-12)


def test_one_step_forecasts_never_use_their_target_or_later(sunspots):
    values = sunspots["y"].tolist()
    for name, (params, forecast) in baselines.fit_all(values[:269], 11, 10, "aic").items():
        for target in (269, 290, 308):
            honest = baselines.one_step(forecast, params, values, [target])
            tampered = values[:target] + [1e6] * (len(values) - target)
            assert baselines.one_step(forecast, params, tampered, [target]) == honest, (name, target)


def run_stage(directory, name, fit, holdout):
    """The stage on these parts, with the protocol data@<name> writes for them under the project's params."""
    fit.to_csv(directory / "fit.csv", index=False)
    holdout.to_csv(directory / "holdout.csv", index=False)
    params = load_params(ROOT / "params.yaml")
    windows = params["windows"]
    write_json(directory / "protocol.json", protocol(len(fit) + len(holdout), series_entry(params, name),
                                                     windows["length"], windows["val_fraction"]))
    baselines.main([name, *(str(directory / f) for f in ("fit.csv", "holdout.csv", "protocol.json", "out"))])
    return directory / "out"


def test_the_ar_baselines_rolling_forecasts_are_statsmodels_autoreg_with_the_same_parameters(sunspots, tmp_path,
                                                                                             monkeypatch):
    """From every origin, in both spans: AutoReg given the lags and the parameters the stage fitted (on the values
    before the validation span, or before the cut), forecasting dynamically from the origin."""
    from statsmodels.tsa.ar_model import AutoReg

    monkeypatch.chdir(ROOT)
    out = run_stage(tmp_path, "sunspots", sunspots[sunspots["x"] <= 1968], sunspots[sunspots["x"] > 1968])
    rolling = pd.read_csv(out / "rolling/ar.csv")
    y = sunspots["y"].to_numpy()
    validation_start = json.loads((out / "baselines.json").read_text())["validation_span"][0]
    assert validation_start == 244 and sorted(set(rolling["span"])) == ["holdout", "validation"]
    for span, fitted_on in (("validation", y[:validation_start]), ("holdout", y[:269])):
        fitted = baselines.fit_ar(list(fitted_on), 10, "aic")
        rows = rolling[rolling["span"] == span]
        assert len(set(rows["origin"])) == {"validation": 15, "holdout": 30}[span] and set(rows["h"]) == set(range(1, 12))
        for origin, forecast in rows.groupby("origin"):
            model = AutoReg(y[: origin + 11], lags=fitted["lags"], trend="c")
            expected = model.predict(np.array(fitted["coefficients"]), start=origin, end=origin + 10, dynamic=True)
            np.testing.assert_allclose(forecast["prediction"], expected, rtol=1e-8)
            assert forecast["truth"].tolist() == y[origin : origin + 11].tolist()


def test_held_out_values_change_no_parameter_and_no_closed_loop_forecast(sunspots, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the project's params.yaml
    fit, holdout = sunspots[sunspots["x"] <= 1968], sunspots[sunspots["x"] > 1968]
    changed = holdout.assign(y=holdout["y"] * 2 + 1)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a, b = run_stage(tmp_path / "a", "sunspots", fit, holdout), run_stage(tmp_path / "b", "sunspots", fit, changed)
    summary = json.loads((a / "baselines.json").read_text())
    assert summary == json.loads((b / "baselines.json").read_text())
    assert set(summary["baselines"]) == {"naive", "seasonal_naive", "mean", "drift", "ar", "ets", "theta"}
    for name in summary["baselines"]:
        loop_a, loop_b = pd.read_csv(a / f"closed_loop/{name}.csv"), pd.read_csv(b / f"closed_loop/{name}.csv")
        assert list(loop_a.columns) == ["step", "x", "truth", "prediction"] and len(loop_a) == 40
        assert loop_a["prediction"].equals(loop_b["prediction"]) and loop_a["x"].iloc[0] == 1969
        step_a, step_b = pd.read_csv(a / f"one_step/{name}.csv"), pd.read_csv(b / f"one_step/{name}.csv")
        assert step_a["prediction"].iloc[0] == step_b["prediction"].iloc[0]  # sees only the training part
        if name != "mean":  # every other baseline follows the true past it is given
            assert not step_a["prediction"].equals(step_b["prediction"])


def test_no_holdout_forecasts_the_networks_span_and_the_validation_windows(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    signal = damped_oscillation(5.0, 5, 200)
    out = run_stage(tmp_path, "damped", signal, signal.iloc[:0])
    loop, steps = pd.read_csv(out / "closed_loop/ar.csv"), pd.read_csv(out / "one_step/ar.csv")
    assert loop["x"].tolist() == signal["x"].iloc[21:].tolist()  # samples L + 1 .. 199
    assert steps["x"].tolist() == signal["x"].iloc[182:].tolist()  # the 18 validation windows' targets
    assert not (out / "closed_loop/seasonal_naive.csv").exists()  # damped has no season in params.yaml
    summary = json.loads((out / "baselines.json").read_text())
    assert summary["best"] == "ar" and summary["validation_span"] == [182, 200]
    assert summary["mase_scale"] == mase_scale(signal["y"].tolist())  # the naive error: damped has no season


def test_a_stale_baseline_file_is_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    signal = damped_oscillation(5.0, 5, 200)
    (tmp_path / "out/closed_loop").mkdir(parents=True)
    (tmp_path / "out/closed_loop/seasonal_naive.csv").write_text("left from a run with a season\n")
    run_stage(tmp_path, "damped", signal, signal.iloc[:0])
    assert not (tmp_path / "out/closed_loop/seasonal_naive.csv").exists()


@pytest.mark.parametrize(
    "n_fit, season, expected",
    [
        (22, None, "baselines@s: 22 training samples, the validation span from sample 21: too few for an AR of up to "
                   "baselines.ar_max_lag = 10 lags"),
        (200, 100, "series.s.season = 100: must be <= 21: Theta's decomposition needs two seasons"),
    ],
)
def test_data_the_params_do_not_fit_end_in_a_clear_message(n_fit, season, expected):
    entry = {"holdout": 0, "horizon": None, "rolling_horizon": None, "rolling_step": 1}
    where = protocol(n_fit, entry, 20, 0.1)
    origin, validation_start = where["closed_loop"][0], n_fit - where["validation_values"]
    frame = pd.DataFrame({"x": range(n_fit), "y": np.ones(n_fit)})
    with pytest.raises(UserError, match=expected.replace("(", r"\(")):
        baselines.check_data("s", frame, frame.iloc[:0], season, 10, origin, validation_start)


def test_the_stage_imports_no_network_framework():
    code = ("import sys, stages.baselines as b; b.fit_all([v % 7 + v / 50 for v in range(60)], 7, 3, 'aic'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'jax', 'tensorflow'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"
