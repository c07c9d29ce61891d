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


def test_mase_scales_by_the_in_sample_naive_error():
    training = [1.0, 2.0, 4.0, 7.0]  # differences 1, 2, 3 (mean 2); at season 2: 3, 5 (mean 4)
    assert statistics.mase([8.0, 10.0], [9.0, 9.0], statistics.mase_scale(training)) == 0.5
    assert statistics.mase([8.0, 10.0], [9.0, 9.0], statistics.mase_scale(training, season=2)) == 0.25
    flat = statistics.mase_scale([3.0, 3.0])
    assert statistics.mase([5.0], [5.0], flat) == 0.0 and statistics.mase([5.0], [6.0], flat) == float("inf")
    with pytest.raises(ValueError, match="no seasonal difference"):
        statistics.mase_scale(training, season=4)
