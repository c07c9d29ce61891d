import math

import numpy as np
import pandas as pd
import pytest

from stages import scores


def test_mase_scales_by_the_in_sample_naive_error():
    training = [1.0, 2.0, 4.0, 7.0]  # differences 1, 2, 3 (mean 2); at season 2: 3, 5 (mean 4)
    assert scores.mase([8.0, 10.0], [9.0, 9.0], scores.mase_scale(training)) == 0.5
    assert scores.mase([8.0, 10.0], [9.0, 9.0], scores.mase_scale(training, season=2)) == 0.25
    flat = scores.mase_scale([3.0, 3.0])
    assert scores.mase([5.0], [5.0], flat) == 0.0 and scores.mase([5.0], [6.0], flat) == float("inf")
    with pytest.raises(ValueError, match="no seasonal difference"):
        scores.mase_scale(training, season=4)


def test_rmse_is_exactly_rounded_whatever_the_order_and_infinite_for_a_diverged_forecast():
    errors = [1e16, 1.0, -1e16, 1.0]  # a naive sum loses the ones
    assert scores.rmse(np.zeros(4), errors) == math.sqrt(math.fsum(e * e for e in errors) / 4)
    assert scores.rmse(np.zeros(4), errors) == scores.rmse(np.zeros(4), errors[::-1])
    assert scores.rmse([0.0, 0.0], [1.0, np.nan]) == math.inf and scores.rmse([0.0], [1e200]) == math.inf


def test_origins_step_through_a_span_while_the_horizon_fits():
    assert scores.origins(269, 309, 11, 1) == list(range(269, 299))  # the sunspots: 30 origins in the hold-out
    assert scores.origins(244, 269, 11, 1)[-1] == 258 and len(scores.origins(244, 269, 11, 1)) == 15
    assert scores.origins(10, 20, 3, 4) == [10, 14]
    assert scores.origins(10, 12, 3, 1) == []


def test_a_rolling_table_scores_per_span_per_horizon_and_per_origin():
    series = pd.DataFrame({"x": np.arange(1700, 1710), "y": np.arange(10.0)})
    predictions = np.array([[2.0, 3.0], [4.0, 4.0], [5.0, 7.0]])  # errors: 0 0 | 1 0 | 0 1
    table = scores.rolling_table(series, [("validation", 2), ("holdout", 3), ("holdout", 5)], predictions)
    assert list(table.columns) == scores.ROLLING_COLUMNS
    assert table["x"].tolist() == [1702, 1703, 1703, 1704, 1705, 1706] and table["h"].tolist() == [1, 2] * 3
    assert scores.rolling_score(table, "validation") == 0.0
    assert scores.rolling_score(table, "holdout") == math.sqrt(2 / 4)
    assert scores.by_horizon(table, "holdout", scale=2.0) == {"rmse": [math.sqrt(0.5)] * 2, "mae": [0.5] * 2,
                                                              "mase": [0.25] * 2}
    assert scores.origin_losses(table, "holdout") == [0.5, 0.5]
