import types

import numpy as np
import pytest
from scipy import stats

from stages import statistics
from stages.statistics import compare, holm, seeds_needed, smallest_p, summary, verdict

SPREAD = np.array([0.31, 0.12, 0.55, 0.27, 0.9, 0.43, 0.71, 0.64, 0.08, 0.36])  # ten seeds, no ties


def test_identical_constant_samples_have_no_difference_and_zero_width_intervals():
    result = compare([0.2] * 10, [0.2] * 10)
    assert result["p_value"] == 1.0
    assert result["difference"] == result["difference_ci_low"] == result["difference_ci_high"] == 0.0
    assert result["p_better"] == result["p_better_ci_low"] == result["p_better_ci_high"] == 0.5


def test_summary_of_a_constant_sample_is_the_value_with_no_spread():
    assert np.mean(np.full(10, 0.3)) != 0.3  # the float sum that summary must not trust
    result = summary([0.3] * 10)
    assert result == {k: 0.3 for k in ("mean", "median", "min", "max", "trim_mean", "ci_low", "ci_high")} | {"std": 0.0}
    assert summary([0.7]) == summary([0.7] * 3)  # a single seed: bootstrap would refuse it


def test_single_seeds_compare_without_bootstrap():  # bootstrap refuses samples of one value
    result = compare([0.2], [0.3])
    assert result["p_value"] == 1.0
    assert result["difference"] == result["difference_ci_low"] == result["difference_ci_high"] == 0.2 - 0.3
    assert result["p_better"] == result["p_better_ci_low"] == result["p_better_ci_high"] == 1.0


def test_equal_spread_samples_show_no_difference():
    result = compare(SPREAD, SPREAD, resamples=999)
    assert result["p_value"] == 1.0  # what SciPy gives: U sits at its null mean, the continuity correction clips to 1
    assert result["difference"] == 0.0
    assert result["difference_ci_low"] < 0 < result["difference_ci_high"]
    assert result["p_better"] == 0.5
    assert result["p_better_ci_low"] < 0.5 < result["p_better_ci_high"]


def test_a_large_shift_is_detected_and_a_declared_better():
    result = compare(SPREAD, SPREAD + 1.0)
    assert result["p_value"] < 0.001
    assert result["difference"] == pytest.approx(-1.0)
    assert result["difference_ci_high"] < 0
    assert result["p_better"] == result["p_better_ci_low"] == result["p_better_ci_high"] == 1.0
    adjusted = holm([result["p_value"]] * 3)
    assert adjusted[0] == pytest.approx(3 * result["p_value"])
    assert verdict("a", "b", adjusted[0], result["p_better_ci_low"], result["p_better_ci_high"], 10, 10) == (
        "a better than b"
    )


def test_five_seeds_each_can_separate_three_models_and_four_cannot():
    five = compare([1.0, 2, 3, 4, 5], [6.0, 7, 8, 9, 10], resamples=999)
    assert five["p_value"] == smallest_p(5, 5) == 2 / 252
    adjusted = holm([five["p_value"]] * 3)[0]
    assert adjusted == pytest.approx(3 * 2 / 252) and adjusted < 0.05
    assert verdict("a", "b", adjusted, five["p_better_ci_low"], five["p_better_ci_high"], 5, 5) == "a better than b"

    four = compare([6.0, 7, 8, 9], [1.0, 2, 3, 4], resamples=999)
    assert four["p_value"] == pytest.approx(smallest_p(4, 4)) and smallest_p(4, 4) == 2 / 70
    adjusted = holm([four["p_value"]] * 3)[0]
    assert adjusted == pytest.approx(3 * 2 / 70) and adjusted > 0.05
    assert four["p_better_ci_high"] == 0.0  # b is lower every time, yet three pairs of four seeds cannot show it
    verdict_four = verdict("a", "b", adjusted, four["p_better_ci_low"], four["p_better_ci_high"], 4, 4)
    assert verdict_four == "no detectable difference with 4 seeds"

    assert seeds_needed(3) == 5
    assert seeds_needed(2) == 4
    assert seeds_needed(1) == 4  # no pair to correct for: as for a single comparison


def test_verdict_follows_the_rule():
    assert verdict("gru", "lstm", 0.01, 0.1, 0.3, 10, 10) == "lstm better than gru"
    assert verdict("gru", "lstm", 0.01, 0.7, 0.9, 10, 10) == "gru better than lstm"
    assert verdict("gru", "lstm", 0.01, 0.4, 0.9, 10, 10) == "no detectable difference with 10 seeds"  # CI holds 0.5
    assert verdict("gru", "lstm", 0.06, 0.7, 0.9, 10, 8) == "no detectable difference with 10 and 8 seeds"
    assert verdict("gru", "lstm", 0.06, 0.7, 0.9, 10, 10, alpha=0.1) == "gru better than lstm"


def test_holm_against_a_hand_computed_example_and_capped_at_one():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])  # 3 * 0.01, 2 * 0.03, max(0.06, 0.04)
    assert holm([0.4, 0.5, 0.01]) == pytest.approx([0.8, 0.8, 0.03])
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    assert holm([]) == []


def test_summary_matches_numpy_and_is_deterministic():
    result = summary(SPREAD, resamples=999)
    assert result["mean"] == np.mean(SPREAD)
    assert result["median"] == np.median(SPREAD)
    assert result["std"] == np.std(SPREAD, ddof=1)
    assert (result["min"], result["max"]) == (0.08, 0.9)
    assert result["trim_mean"] == stats.trim_mean(SPREAD, 0.1) == np.mean(np.sort(SPREAD)[1:-1])
    assert result["ci_low"] < result["mean"] < result["ci_high"]
    assert all(type(value) is float for value in result.values())
    assert summary(SPREAD, resamples=999) == result
    other = summary(SPREAD, resamples=999, seed=1)
    assert (other["ci_low"], other["ci_high"]) != (result["ci_low"], result["ci_high"])


def test_compare_is_deterministic_with_the_default_resamples():
    a, b = SPREAD, SPREAD[::-1] + 0.1
    result = compare(a, b)
    assert compare(a, b) == result
    assert all(type(value) is float for value in result.values())
    other = compare(a, b, seed=1)  # P(a better) moves in steps of 1/100: the difference shows the new draw
    assert (other["difference_ci_low"], other["difference_ci_high"]) != (
        result["difference_ci_low"],
        result["difference_ci_high"],
    )


def test_p_better_is_u_of_b_over_all_pairs_with_ties():
    a, b = [1.0, 2, 2, 3, 5], [2.0, 3, 3, 4, 6, 1]
    u_a = stats.mannwhitneyu(a, b, alternative="two-sided").statistic
    result = compare(a, b, resamples=999)
    assert result["p_better"] == pytest.approx((5 * 6 - u_a) / (5 * 6))
    assert result["p_better"] == pytest.approx(np.mean([[x < y or 0.5 * (x == y) for y in b] for x in a]))


def test_a_nan_bca_interval_falls_back_to_the_percentile_interval(monkeypatch):
    real_bootstrap = stats.bootstrap
    distributions = []

    def nan_bootstrap(*args, **kwargs):
        result = real_bootstrap(*args, **kwargs)
        distributions.append(result.bootstrap_distribution)
        return types.SimpleNamespace(confidence_interval=(np.nan, np.nan), bootstrap_distribution=distributions[-1])

    monkeypatch.setattr(statistics.stats, "bootstrap", nan_bootstrap)
    result = summary(SPREAD, confidence=0.9, resamples=999)
    assert [result["ci_low"], result["ci_high"]] == list(np.quantile(distributions[0], [0.05, 0.95]))
    assert result["ci_low"] < result["mean"] < result["ci_high"]


def test_without_lags_the_test_across_origins_is_the_one_sample_t_test():
    """H = 1: no overlap, and Harvey-Leybourne-Newbold's factor turns the DM statistic into Student's t."""
    rng = np.random.default_rng(3)
    a, b = rng.random(25), rng.random(25) + 0.2
    test = statistics.diebold_mariano(a, b, lags=0)
    expected = stats.ttest_1samp(a - b, 0.0)
    assert test["usable"] and test["origins"] == 25 and test["variance"] == "rectangular"
    assert test["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert test["p_value"] == pytest.approx(expected.pvalue, rel=1e-10)


def test_with_lags_the_variance_adds_the_autocovariances_of_overlapping_horizons():
    rng = np.random.default_rng(4)
    d = np.convolve(rng.normal(size=43), np.ones(4) / 4, mode="valid") + 1.0  # MA(3): overlapping 4-step errors
    test = statistics.diebold_mariano(d, np.zeros(len(d)), lags=3)
    n, centered = len(d), d - d.mean()
    gamma = [centered[k:] @ centered[: n - k] / n for k in range(4)]
    statistic = d.mean() / np.sqrt((gamma[0] + 2 * sum(gamma[1:])) / n) * np.sqrt((n + 1 - 8 + 12 / n) / n)
    assert test["statistic"] == pytest.approx(statistic, rel=1e-10)
    assert test["p_value"] == pytest.approx(2 * stats.t.sf(abs(statistic), n - 1), rel=1e-10)
    assert statistics.origins_verdict("a", "b", test, test["p_value"], 0.05) == "b better than a"


def test_too_few_origins_or_no_positive_variance_make_the_test_unusable():
    few = statistics.diebold_mariano([1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5, lags=2)
    assert not few["usable"] and few["p_value"] is None and "fewer than 2H = 6" in few["reason"]
    flat = statistics.diebold_mariano([1.0] * 20, [0.0] * 20, lags=1)
    assert not flat["usable"] and "does not vary" in flat["reason"]
    alternating = statistics.diebold_mariano([1.3, -1.0] * 10, [0.0] * 20, lags=1)  # the lag-1 covariance cancels
    assert alternating["usable"] and alternating["variance"] == "bartlett"  # the weights that stay positive
    d = np.array([1.3, -1.0] * 10) - 0.15
    gamma = [d @ d / 20, d[1:] @ d[:-1] / 20]
    assert alternating["statistic"] == pytest.approx(0.15 / np.sqrt((gamma[0] + gamma[1]) / 20) * np.sqrt(17.1 / 20))
    assert statistics.origins_verdict("a", "b", few, None, 0.05).startswith("unusable: 5 origins")


def test_a_verdict_needs_both_tests():
    both = statistics.both_agree
    assert both("a better than b", "a better than b") == "a better than b"
    assert both("a better than b", "b better than a") == "no verdict: the tests across seeds and across origins disagree"
    assert both("no detectable difference with 10 seeds", "a better than b") == (
        "no detectable difference across both (only across origins: a better than b)")
    assert both("a better than b", "unusable: 5 origins, fewer than 2H = 6") == (
        "no verdict: the test across origins is unusable here")
    assert both("no detectable difference with 10 seeds", "no detectable difference across 30 origins") == (
        "no detectable difference")
