"""Stage `baselines`: the classical forecasts a network must beat, on one series.

Each baseline is fitted on the training part (fit.csv) only and forecasts exactly the samples the
networks forecast: closed loop from origin f (each prediction fed back, conditioning on the true
y[:f]), one step ahead for the last K samples (each conditioning on the true past, with the
parameters fitted on the training part; nothing is refitted on held-out values), and H steps from every
rolling origin of protocol.json (rolling/<baseline>.csv). The best baseline is chosen by the same
rolling-origin score the networks are chosen by, on the validation span, fitted on the values before it.

The same bytes on every x86-64 AVX2 CPU. LAPACK and OpenBLAS pick their kernels from the CPU and
round differently in the last bits: statsmodels' AutoReg forecasts of sunspots differ over
OPENBLAS_CORETYPE, and so do ETSModel.fit's parameters. So every least-squares fit here (AR,
Theta's trend) solves the normal equations exactly in rational arithmetic and rounds once, as do the
mean and the drift; ETS is fitted by a BLAS-free optimizer; every forecast is computed with Python
floats or Fractions or statsmodels' plain C loops, never a BLAS call. Theta's smoothing constant alone is statsmodels'
L-BFGS-B fit: measured the same over the kernels, not proved.
"""

import math
from fractions import Fraction

import numpy as np
import pandas as pd

from stages.cli import UserError, run
from stages.files import keep_only, load_json, read_input, write_csv, write_json
from stages.forecast import rolling_origins
from stages.params import load_params, series_entry
from stages.scores import mase_scale, rolling_score, rolling_table

ETS_TRENDS = {"none": (None, False), "additive": ("add", False), "damped": ("add", True)}
# statsmodels' start values and bounds; smoothing_trend here as the fraction of smoothing_level (0.01 / 0.1).
ETS_START = {"smoothing_level": 0.1, "smoothing_trend": 0.1, "damping_trend": 0.98}
ETS_BOUNDS = {"smoothing_level": (1e-4, 0.9999), "smoothing_trend": (1e-4, 0.9999), "damping_trend": (0.8, 0.98)}


def exactly(values):
    return [Fraction(float(v)) for v in values]


def gram(columns):
    """The exact inner products of columns of floats or dyadic Fractions (the last one the target).

    Every float is an integer times a power of two: scaled by one common power, the sums are integer
    sums, far faster than Fraction sums; the scale is divided out again, exactly."""
    values = [[Fraction(v) for v in column] for column in columns]
    exponent = max(v.denominator.bit_length() - 1 for column in values for v in column)
    integers = [[int(v * 2**exponent) for v in column] for column in values]
    return [[Fraction(sum(a * b for a, b in zip(u, w)), 4**exponent) for w in integers] for u in integers]


def eliminate(matrix):
    """Gaussian elimination of a Gram matrix augmented by its target (no pivoting: the pivots of a
    full-rank Gram matrix are positive). After eliminating the first k regressors the corner entry is
    the residual sum of squares of the regression on them, so one pass gives the sse of every
    leading subset: [sse with 0 regressors, 1, ..., all]."""
    rows = [list(row) for row in matrix]
    last = len(rows) - 1
    sums = [rows[last][last]]
    for k in range(last):
        if rows[k][k] == 0:
            raise ValueError("singular normal equations: a regressor is a combination of the others")
        for r in range(k + 1, last + 1):
            factor = rows[r][k] / rows[k][k]
            rows[r][k:] = [a - factor * b for a, b in zip(rows[r][k:], rows[k][k:])]
        sums.append(rows[last][last])
    return rows, sums


def least_squares(design, target):
    """Exact OLS coefficients of target on the columns of design: the normal equations, eliminated and
    back-substituted in rational arithmetic."""
    rows, _ = eliminate(gram([*design, target]))
    n = len(design)
    coefficients = [Fraction(0)] * n
    for k in reversed(range(n)):
        coefficients[k] = (rows[k][n] - sum(rows[k][j] * coefficients[j] for j in range(k + 1, n))) / rows[k][k]
    return coefficients


def lag_design(y, lags, start):
    """The AR regressors of y[start:]: a constant, then y[t-1] .. y[t-lags]."""
    return [[1.0] * (len(y) - start)] + [y[start - lag : len(y) - lag] for lag in range(1, lags + 1)]


def information_criterion(sse, n_obs, n_params, criterion):
    """AIC or BIC of a Gaussian regression up to a shared constant, as statsmodels' ar_select_order ranks
    lags: n log(sse / n) + penalty * n_params, in 200-bit arithmetic from the exact sse (mpmath works on integers)."""
    import mpmath

    with mpmath.workprec(200):
        penalty = 2 if criterion == "aic" else mpmath.log(n_obs)
        return n_obs * mpmath.log(mpmath.mpf(sse.numerator) / (sse.denominator * n_obs)) + penalty * n_params


def fit_ar(train, max_lag, criterion):
    """AR(p) with a constant, p in 0..max_lag by the criterion on the common sample y[max_lag:] (as
    ar_select_order), then refitted on y[p:] (as AutoReg): {"lags": p, "coefficients": [c, a_1 .. a_p]}."""
    target = train[max_lag:]
    _, sums = eliminate(gram([*lag_design(train, max_lag, max_lag), target]))
    scores = [information_criterion(sums[lags + 1], len(target), lags + 1, criterion) for lags in range(max_lag + 1)]
    lags = scores.index(min(scores))  # the fewest lags on a tie
    coefficients = least_squares(lag_design(train, lags, lags), train[lags:])
    return {"lags": lags, "coefficients": [float(c) for c in coefficients]}


def ar_forecast(params, history, steps):
    """Each step c + sum a_i y[t-i], exactly rounded; predictions are fed back."""
    coefficients = exactly(params["coefficients"])
    values = exactly(history)
    for _ in range(steps):
        past = values[len(values) - params["lags"] :][::-1]
        values.append(Fraction(float(coefficients[0] + sum(a * v for a, v in zip(coefficients[1:], past)))))
    return [float(v) for v in values[len(history) :]]


def fit_drift(train):
    """The slope of the line through the first and last training values (Hyndman's drift method)."""
    return {"slope": float((Fraction(train[-1]) - Fraction(train[0])) / (len(train) - 1))}


def drift_forecast(params, history, steps):
    last, slope = Fraction(history[-1]), Fraction(params["slope"])
    return [float(last + k * slope) for k in range(1, steps + 1)]


def fit_mean(train):
    return {"mean": float(sum(exactly(train)) / len(train))}


def mean_forecast(params, history, steps):
    return [params["mean"]] * steps


def naive_forecast(params, history, steps):
    return [float(history[-1])] * steps


def seasonal_naive_forecast(params, history, steps):
    """The value one season before, from the last observed season: y[f - m + (k mod m)]."""
    season = params["season"]
    last = list(history[len(history) - season :])
    return [float(last[k % season]) for k in range(steps)]


def ets_model(history, trend):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    kind, damped = ETS_TRENDS[trend]
    return ETSModel(np.asarray(history, dtype=float), error="add", trend=kind, damped_trend=damped)


def fit_ets_trend(train, trend):
    """Additive-error ETS by maximum likelihood: statsmodels' model and likelihood, SciPy's Nelder-Mead.

    ETSModel.fit runs L-BFGS-B, whose BLAS and LAPACK calls round by the CPU's kernel: measured over
    OPENBLAS_CORETYPE, the fitted initial states of damped differed from the 10th digit on. Nelder-Mead
    only compares, sorts and does elementwise arithmetic, and the likelihood is C loops plus NumPy
    (unchanged with its AVX-512 paths disabled, measured): the same steps on every CPU. The trend's
    smoothing constant is searched as a fraction of the level's, which keeps it below (as statsmodels)."""
    from scipy.optimize import minimize

    model = ets_model(train, trend)
    names = model.param_names

    def parameters(x):
        values = dict(zip(names, x))
        if "smoothing_trend" in values:
            values["smoothing_trend"] *= values["smoothing_level"]
        return np.array(list(values.values()))

    start = {**ETS_START, "initial_level": train[0], "initial_trend": train[1] - train[0]}
    bounds = [ETS_BOUNDS.get(name, (None, None)) for name in names]
    with np.errstate(all="ignore"):  # a trial point may send the states to infinity: a -inf likelihood, not an error
        result = minimize(
            lambda x: -model.loglike(parameters(x)), [start[name] for name in names], method="Nelder-Mead",
            bounds=bounds, options={"maxiter": 5000, "xatol": 1e-10, "fatol": 1e-12},
        )
    fitted = parameters(result.x)
    return dict(zip(names, map(float, fitted))), model.smooth(fitted).aicc


def fit_ets(train):
    """Additive-error ETS without season, the trend (none, additive, damped) chosen by AICc, as R's ets()."""
    fits = {trend: fit_ets_trend(train, trend) for trend in ETS_TRENDS}
    trend = min(fits, key=lambda name: fits[name][1])
    return {"trend": trend, "parameters": fits[trend][0]}


def ets_forecast(params, history, steps):
    """The fitted parameters (initial states included) run over history, then forecast: statsmodels' C loops."""
    model = ets_model(history, params["trend"])
    values = np.array([params["parameters"][name] for name in model.param_names])
    return [float(v) for v in model.smooth(values).forecast(steps)]


def fit_theta(train, season):
    """The Theta method (theta = 2) as statsmodels' ThetaModel: additive deseasonalizing when its 90 %
    test finds the season, the smoothing constant alpha of SES; the trend slope b0 is its OLS
    slope on t, here solved exactly instead of by LAPACK."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = np.asarray(train, dtype=float)
    fitted = ThetaModel(y, period=season or 1, deseasonalize=bool(season), method="additive").fit()
    # ThetaModel gives the seasonal component only through forecasts: s[(n + k) mod m] for k < m.
    components = fitted.forecast_components(season or 1)["seasonal"].to_numpy()
    seasonal = [0.0] * len(components)
    for k, value in enumerate(components):
        seasonal[(len(train) + k) % len(components)] = float(value)
    _, slope = least_squares([[1] * len(train), range(len(train))], deseasonalized(train, seasonal))
    return {"alpha": float(fitted.params["alpha"]), "b0": float(slope), "seasonal": seasonal}


def deseasonalized(values, seasonal):
    """y[t] - s[t mod m], each difference rounded as ThetaModel rounds it."""
    return [Fraction(float(v) - seasonal[t % len(seasonal)]) for t, v in enumerate(values)]


def theta_forecast(params, history, steps):
    """SES of the deseasonalized history from level z[0], plus half the trend (Hyndman and Billah 2003):
    z^(T+h) = l_T + b0 / 2 (h - 1 + 1/alpha - (1 - alpha)^T / alpha), reseasonalized; exactly rounded."""
    alpha, b0, seasonal = Fraction(params["alpha"]), Fraction(params["b0"]), params["seasonal"]
    z = deseasonalized(history, seasonal)
    level = z[0]
    for value in z[1:]:
        level = alpha * value + (1 - alpha) * level
    n = len(history)
    decay = (1 / alpha - (1 - alpha) ** n / alpha) if alpha else Fraction(0)
    return [
        float(level + b0 / 2 * (k - 1 + decay) + Fraction(seasonal[(n + k - 1) % len(seasonal)]))
        for k in range(1, steps + 1)
    ]


def fit_all(train, season, max_lag, criterion):
    """Every baseline fitted on train: {name: (parameters, forecast function)}."""
    fitted = {
        "naive": ({}, naive_forecast),
        "mean": (fit_mean(train), mean_forecast),
        "drift": (fit_drift(train), drift_forecast),
        "ar": (fit_ar(train, max_lag, criterion), ar_forecast),
        "ets": (fit_ets(train), ets_forecast),
        "theta": (fit_theta(train, season), theta_forecast),
    }
    if season:
        fitted["seasonal_naive"] = ({"season": season}, seasonal_naive_forecast)
    return fitted


def one_step(forecast, params, series, targets):
    """The forecast of each target sample t from the true series[:t] alone: it cannot see t or later."""
    return [forecast(params, series[:t], 1)[0] for t in targets]


def rolling(fitted, series, origins, horizon):
    """Each fitted baseline's rolling table (stages/scores.py): from every origin [(span, t)], `horizon`
    steps conditioned on the true series[:t] alone, with the parameters fitted before (nothing refitted)."""
    values = series["y"].tolist()
    return {name: rolling_table(series, origins, np.reshape([forecast(params, values[:t], horizon) for _, t in origins],
                                                            (len(origins), horizon)))
            for name, (params, forecast) in fitted.items()}


def selection(protocol):
    """The origins and horizon that choose the best baseline: the rolling origins of the validation span; without
    a hold-out (the tutorial's protocol), one closed loop over the validation span, as before the rolling origin."""
    if protocol["held_out"]:
        return rolling_origins(protocol, ["validation"]), protocol["horizon"]
    n_val = protocol["validation_values"]
    return [("validation", protocol["values"] - n_val)], n_val


def table(series, samples, predictions):
    """step, x, truth, prediction; step k predicts samples[k - 1]."""
    rows = series.iloc[list(samples)]
    return pd.DataFrame({"step": np.arange(1, len(rows) + 1), "x": rows["x"].to_numpy(),
                         "truth": rows["y"].to_numpy(), "prediction": predictions})


def check_data(name, fit, holdout, season, max_lag, origin, validation_start):
    """What the params cannot be checked against: the series itself."""
    if not (fit["y"].notna().all() and holdout["y"].notna().all()):
        raise UserError(f"baselines@{name}: fit.csv or holdout.csv has a missing value; re-run: dvc repro data@{name}")
    if validation_start >= len(fit) or validation_start <= 2 * max_lag + 1:
        raise UserError(
            f"baselines@{name}: {len(fit)} training samples, the validation span from sample {validation_start}: "
            f"too few for an AR of up to baselines.ar_max_lag = {max_lag} lags before it (more than "
            f"{2 * max_lag + 1} samples) and at least one validation sample"
        )
    if season is not None and (2 * season > validation_start or season > origin):
        raise UserError(
            f"series.{name}.season = {season}: must be <= {min(validation_start // 2, origin)}: Theta's "
            f"decomposition needs two seasons before the validation span (sample {validation_start}), the "
            f"seasonal naive forecast one before the forecast origin (sample {origin})"
        )


def main(argv):
    """argv: series name, fit.csv, holdout.csv, protocol.json, output directory."""
    name, fit_path, holdout_path, protocol_path, out_dir = argv
    params = load_params()
    settings, season = params["baselines"], series_entry(params, name)["season"]
    fit = read_input(fit_path, pd.read_csv, f"data@{name}")
    holdout = read_input(holdout_path, pd.read_csv, f"data@{name}")
    protocol = read_input(protocol_path, load_json, f"data@{name}")
    # The samples the networks forecast (protocol.json), so that both are scored on the same ones.
    (origin, horizon), (first_target, n_targets) = protocol["closed_loop"], protocol["one_step"]
    targets = list(range(first_target, first_target + n_targets))
    chooses, chooses_horizon = selection(protocol)
    validation_start = chooses[0][1]
    check_data(name, fit, holdout, season, settings["ar_max_lag"], origin, validation_start)
    series = pd.concat([fit, holdout], ignore_index=True)
    train, values = fit["y"].tolist(), series["y"].tolist()
    fit_on = lambda part: fit_all(part, season, settings["ar_max_lag"], settings["criterion"])  # noqa: E731

    # Chosen on the validation span, fitted before it: no held-out value (nor the span itself) is fitted on.
    chosen_on = rolling(fit_on(train[:validation_start]), series, chooses, chooses_horizon)
    scores = {baseline: rolling_score(table, "validation") for baseline, table in chosen_on.items()}
    summary = {"series": name, "chosen_by": "rolling-origin RMSE on the validation span, fitted before it",
               "validation_span": [validation_start, len(fit)], "best": min(scores, key=lambda k: (scores[k], k)),
               "mase_scale": mase_scale(train, season), "baselines": {}}
    fitted = fit_on(train)
    judged = rolling(fitted, series, rolling_origins(protocol, ["holdout"]), protocol["horizon"])
    for baseline, (parameters, forecast) in fitted.items():
        loop = forecast(parameters, values[:origin], horizon)
        steps = one_step(forecast, parameters, values, targets)
        summary["baselines"][baseline] = {"parameters": parameters, "validation_rmse": scores[baseline]}
        write_csv(f"{out_dir}/closed_loop/{baseline}.csv", table(series, range(origin, origin + horizon), loop))
        write_csv(f"{out_dir}/one_step/{baseline}.csv", table(series, targets, steps))
        write_csv(f"{out_dir}/rolling/{baseline}.csv", pd.concat([chosen_on[baseline], judged[baseline]]))
    for kind in ("closed_loop", "one_step", "rolling"):  # a baseline dropped since the last run (a season removed)
        keep_only(f"{out_dir}/{kind}", {f"{baseline}.csv" for baseline in summary["baselines"]})
    write_json(f"{out_dir}/baselines.json", summary)


if __name__ == "__main__":
    run(main)
