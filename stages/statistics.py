"""Statistics across training seeds: is one architecture really better, or was it a lucky seed?

Each model gives one value per training seed (typically 10), lower is better (an RMSE). So few
values, of unknown shape, call for methods that assume no distribution:

- confidence intervals are BCa bootstrap intervals (scipy.stats.bootstrap) of the mean, of the
  difference of two means and of P(A better). Two models' seeds are resampled independently
  (paired=False): seed 3 of one architecture has nothing in common with seed 3 of another;
- the test is the two-sided Mann-Whitney U test, exact for small samples without ties;
- P(A better) is the chance that a random seed of A scores lower than one of B, ties counting
  half (the common-language effect size, U_B / (n_A n_B));
- Holm's step-down correction keeps the chance of any false verdict across all pairs below alpha;
- a verdict needs both the corrected test and the CI of P(A better) to agree.

Every bootstrap draws from a fresh np.random.default_rng(seed): same values, same bytes out. When
every resample gives the same value (identical seeds, fully separated samples) BCa is undefined
(SciPy returns NaN); the interval is then that value, zero width. No output is ever NaN.
"""

import math
import warnings

import numpy as np
from scipy import stats


def mean_difference(a, b, axis=-1):
    """mean(a) - mean(b) along axis."""
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def probability_better(a, b, axis=-1):
    """P(a_i < b_j) over all pairs, ties counting half, along axis (vectorized over the other axes)."""
    a = np.moveaxis(a, axis, -1)[..., :, None]
    b = np.moveaxis(b, axis, -1)[..., None, :]
    return np.mean((a < b) + 0.5 * (a == b), axis=(-2, -1))


def interval(samples, statistic, confidence, resamples, seed):
    """(low, high): the BCa bootstrap CI of statistic(*samples), each sample resampled on its own."""
    point = float(statistic(*samples, axis=-1))
    if all(np.ptp(sample) == 0 for sample in samples):
        return point, point  # every resample is the data itself (and bootstrap refuses a single value)
    # Where BCa is undefined SciPy warns, and divides 0 by 0 for the acceleration: handled below.
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            samples,
            statistic,
            n_resamples=resamples,
            vectorized=True,
            paired=False,
            confidence_level=confidence,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
    low, high = result.confidence_interval
    if np.isnan(low) or np.isnan(high):
        # BCa is undefined (NaN) when its jackknife has no spread, as when every resample gives the same
        # value: P(A better) of fully separated samples is 1 in each. The percentile interval of the same
        # resamples is defined, and then zero-width at that value.
        tail = (1 - confidence) / 2
        low, high = np.quantile(result.bootstrap_distribution, [tail, 1 - tail])
    return float(low), float(high)


def summary(values, confidence=0.95, resamples=9999, seed=0):
    """Mean, median, std (ddof=1), min, max, 10 % trimmed mean and the bootstrap CI of the mean."""
    values = np.asarray(values, dtype=float)
    if np.ptp(values) == 0:
        # One seed, or all alike: no spread. Said outright, as a float sum of equal values need not
        # divide back to the value exactly (ten times 0.3 gives a mean off by one ulp, a std of 6e-17).
        v = float(values[0])
        return {"mean": v, "median": v, "std": 0.0, "min": v, "max": v, "trim_mean": v, "ci_low": v, "ci_high": v}
    low, high = interval((values,), np.mean, confidence, resamples, seed)
    return {
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "std": float(np.std(values, ddof=1)),
        "min": float(np.min(values)),
        "max": float(np.max(values)),
        "trim_mean": float(stats.trim_mean(values, 0.1)),
        "ci_low": low,
        "ci_high": high,
    }


def compare(a, b, confidence=0.95, resamples=9999, seed=0):
    """Model A against model B: mean difference, Mann-Whitney p-value and P(A better), with CIs."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.ptp(np.concatenate([a, b])) == 0:
        # Every value tied: nothing to rank. SciPy gets 1.0 only through its continuity correction
        # (-0.5 / a zero variance = -inf); the rule is stated here instead.
        p_value = 1.0
    else:
        p_value = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    difference_low, difference_high = interval((a, b), mean_difference, confidence, resamples, seed)
    better_low, better_high = interval((a, b), probability_better, confidence, resamples, seed)
    return {
        "difference": float(mean_difference(a, b)),
        "difference_ci_low": difference_low,
        "difference_ci_high": difference_high,
        "p_value": p_value,
        "p_better": float(probability_better(a, b)),
        "p_better_ci_low": better_low,
        "p_better_ci_high": better_high,
    }


def holm(p_values):
    """Holm-Bonferroni adjusted p-values, in the input order."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    # The i-th smallest (0-based) times m - i; the running maximum so that a larger raw p never ends up smaller.
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(value) for value in adjusted]


def verdict(name_a, name_b, adjusted_p, p_better_low, p_better_high, n_a, n_b, alpha=0.05):
    """The rule, fixed before any number is seen: A is better than B only if the Holm-adjusted
    p-value is below alpha and the whole CI of P(A better) lies above 0.5; B is better than A if the
    adjusted p-value is below alpha and the whole CI lies below 0.5; otherwise no detectable difference."""
    if adjusted_p < alpha and p_better_low > 0.5:
        return f"{name_a} better than {name_b}"
    if adjusted_p < alpha and p_better_high < 0.5:
        return f"{name_b} better than {name_a}"
    seeds = f"{n_a} seeds" if n_a == n_b else f"{n_a} and {n_b} seeds"
    return f"no detectable difference with {seeds}"


def proportion_ci(successes, trials, confidence=0.95):
    """Clopper-Pearson (exact) interval of a proportion, e.g. the share of seeds better than a baseline."""
    interval = stats.binomtest(successes, trials).proportion_ci(confidence, method="exact")
    return float(interval.low), float(interval.high)


def yardstick_verdict(network, baseline, rmse_ci_low, rmse_ci_high, baseline_rmse):
    """The best network against the best classical baseline: better only if the whole CI of its mean RMSE
    lies below the baseline's RMSE, worse only if it lies above; otherwise no detectable difference."""
    if rmse_ci_high < baseline_rmse:
        return f"{network} better than {baseline}"
    if rmse_ci_low > baseline_rmse:
        return f"{baseline} better than {network}"
    return f"no detectable difference between {network} and {baseline}"


def smallest_p(n_a, n_b):
    """The smallest two-sided p-value of the exact Mann-Whitney U test for these sample sizes, no ties:
    complete separation, one ordering in C(n_a + n_b, n_a), in either direction."""
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


def seeds_needed(n_models, alpha=0.05):
    """The fewest seeds per model for which Holm's correction over all pairs can still give p < alpha:
    the smallest p-value, times the number of pairs (what Holm multiplies it by), below alpha."""
    pairs = max(1, n_models * (n_models - 1) // 2)
    n = 1
    while pairs * smallest_p(n, n) >= alpha:
        n += 1
    return n


def expected_best(scores, n):
    """The expected lowest of n scores drawn at random without replacement from `scores` (Dodge et al.
    2019's expected validation performance, for lower-is-better scores; at n = len(scores) the best
    itself). The i-th lowest (0-based) is the lowest of the draw with probability C(N-1-i, n-1) / C(N, n).
    An infinite score (a diverged candidate) that can be the lowest makes the expectation infinite."""
    ordered, total = sorted(scores), math.comb(len(scores), n)
    weights = [math.comb(len(ordered) - 1 - i, n - 1) for i in range(len(ordered))]
    if any(w and math.isinf(v) for v, w in zip(ordered, weights)):
        return math.inf
    return math.fsum(v * w for v, w in zip(ordered, weights) if w) / total


def tuning_curve(scores):
    """expected_best of n = 1 .. all candidates; a score of None (a diverged candidate) counts as +inf."""
    values = [math.inf if v is None else v for v in scores]
    return [expected_best(values, n) for n in range(1, len(values) + 1)]


def diebold_mariano(losses_a, losses_b, lags):
    """The test across origins: do A's per-origin losses differ from B's on average? Diebold and Mariano
    (1995) on the loss differential d_t = a_t - b_t, its variance from the autocovariances up to `lags`
    (overlapping H-step forecasts from consecutive origins share errors: H - 1 lags), with Harvey, Leybourne
    and Newbold's (1997) small-sample factor and Student's t with T - 1 degrees of freedom. Where the
    truncated (rectangular) sum of autocovariances is not positive, as it often is with many lags and few
    origins, the Newey-West (Bartlett) weights, which keep it positive. Exactly rounded sums. usable is False
    (no p-value) with fewer than 2 (lags + 1) origins, or a differential without variance."""
    d = [float(a) - float(b) for a, b in zip(losses_a, losses_b, strict=True)]
    n, h = len(d), lags + 1
    mean = math.fsum(d) / n
    result = {"origins": n, "lags": lags, "mean_difference": mean}
    if n < 2 * h:
        return {**result, "statistic": None, "p_value": None, "usable": False, "variance": None,
                "reason": f"{n} origins, fewer than 2H = {2 * h}"}
    autocovariance = [math.fsum((d[t] - mean) * (d[t - k] - mean) for t in range(k, n)) / n for k in range(h)]
    weights = {"rectangular": [1.0] * h, "bartlett": [1 - k / h for k in range(h)]}
    for kernel, w in weights.items():
        variance = (autocovariance[0] + 2 * math.fsum(wk * g for wk, g in zip(w[1:], autocovariance[1:]))) / n
        if variance > 0:
            break
    else:
        return {**result, "statistic": None, "p_value": None, "usable": False, "variance": None,
                "reason": f"the loss differential does not vary over the {n} origins"}
    statistic = mean / math.sqrt(variance) * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    p_value = float(2 * stats.t.sf(abs(statistic), n - 1))
    return {**result, "statistic": statistic, "p_value": p_value, "usable": True, "variance": kernel, "reason": None}


def origins_verdict(name_a, name_b, test, adjusted_p, alpha):
    """Across origins: A better than B if the (corrected) test gives p < alpha and A's mean loss is lower."""
    if not test["usable"]:
        return f"unusable: {test['reason']}"
    if adjusted_p < alpha:
        return f"{name_a} better than {name_b}" if test["mean_difference"] < 0 else f"{name_b} better than {name_a}"
    return f"no detectable difference across {test['origins']} origins"


def both_agree(across_seeds, across_origins):
    """The verdict: "A better than B" only where the test across seeds and the test across origins agree."""
    if " better than " in across_seeds and across_seeds == across_origins:
        return across_seeds
    if across_origins.startswith("unusable"):
        return "no verdict: the test across origins is unusable here"
    decided = [text for text in (across_seeds, across_origins) if " better than " in text]
    if len(decided) == 2:
        return "no verdict: the tests across seeds and across origins disagree"
    if decided:
        which = "seeds" if decided[0] == across_seeds else "origins"
        return f"no detectable difference across both (only across {which}: {decided[0]})"
    return "no detectable difference"
