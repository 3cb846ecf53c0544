"""t-intervals, paired bootstrap CIs and McNemar's test against hand computations."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics

from aesweep.stats import (
    mcnemar_exact_p,
    paired_bootstrap_ci,
    paired_comparison,
    t_interval,
)


def labels(n: int, accuracy_a: float, accuracy_b: float, seed: int = 0, classes: int = 2):
    """True labels and two predictions, right with the given rates, independently."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    wrong = (y + rng.integers(1, classes, n)) % classes
    return (y, np.where(rng.random(n) < accuracy_a, y, wrong),
            np.where(rng.random(n) < accuracy_b, y, wrong))


def test_t_interval_matches_hand_computation():
    values = [0.81, 0.84, 0.79, 0.90, 0.86]
    n, mean = len(values), sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    for confidence in (0.95, 0.9):
        half = stats.t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
        assert t_interval(values, confidence) == pytest.approx((mean, half))
    assert t_interval([0.5, 0.5]) == (0.5, 0.0)
    mean, half = t_interval([0.7])
    assert mean == 0.7 and math.isnan(half)
    assert all(math.isnan(v) for v in t_interval([]))


def test_mcnemar_on_a_known_table():
    # 20 rows both right, 10 only a right, 2 only b right, 5 both wrong.
    a_right = [1] * 20 + [1] * 10 + [0] * 2 + [0] * 5
    b_right = [1] * 20 + [0] * 10 + [1] * 2 + [0] * 5
    y = np.ones(37, dtype=int)
    pred_a, pred_b = np.where(a_right, 1, 0), np.where(b_right, 1, 2)
    # Two-sided exact binomial: 2 * P(X <= 2 | n = 12, p = 1/2) = 2 * (1 + 12 + 66) / 4096.
    assert mcnemar_exact_p(y, pred_a, pred_b) == pytest.approx(158 / 4096)
    assert mcnemar_exact_p(y, pred_b, pred_a) == pytest.approx(158 / 4096)
    assert mcnemar_exact_p(y, pred_a, pred_a) == 1.0


@pytest.mark.parametrize("metric", ["accuracy", metrics.accuracy_score])
def test_bootstrap_ci_contains_the_difference_and_shrinks_with_more_rows(metric):
    widths = []
    for n in (200, 2000):
        y, a, b = labels(n, 0.9, 0.8)
        delta, low, high = paired_bootstrap_ci(y, a, b, metric)
        assert delta == pytest.approx(metrics.accuracy_score(y, a) - metrics.accuracy_score(y, b))
        assert low < delta < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # ~ 1/sqrt(10)


def test_bootstrap_is_paired_and_reproducible():
    y, a, _ = labels(500, 0.85, 0.85)
    b = a.copy()
    b[:5] = (b[:5] + 1) % 2  # b differs from a on five rows only
    delta, low, high = paired_bootstrap_ci(y, a, b, "accuracy")
    assert high - low < 0.03  # unpaired resampling would be ~ 0.09 wide
    assert paired_bootstrap_ci(y, a, b, "accuracy") == (delta, low, high)
    assert paired_bootstrap_ci(y, a, a, "accuracy") == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(("name", "score"), [
    ("precision", metrics.precision_score), ("recall", metrics.recall_score),
    ("f1", metrics.f1_score)])
@pytest.mark.parametrize("classes", [2, 4])
def test_vectorised_label_metrics_equal_sklearn(name, score, classes):
    y, a, b = labels(300, 0.8, 0.6, seed=classes, classes=classes)
    average = "binary" if classes == 2 else "macro"
    delta, low, high = paired_bootstrap_ci(y, a, b, name, n_resamples=200)
    assert delta == pytest.approx(score(y, a, average=average) - score(y, b, average=average))
    assert low < delta < high


def test_any_callable_works_through_the_slow_path():
    y, a, b = labels(300, 0.9, 0.8)
    fast = paired_bootstrap_ci(y, a, b, "accuracy", n_resamples=300)
    slow = paired_bootstrap_ci(y, a, b, lambda t, p: float(np.mean(t == p)), n_resamples=300)
    assert slow[0] == fast[0]
    assert slow[1:] == pytest.approx(fast[1:], abs=0.02)


def test_rmse_is_oriented_so_positive_means_encoded_better():
    rng = np.random.default_rng(1)
    y = rng.normal(size=1000)
    encoded, control = y + rng.normal(0, 0.5, 1000), y + rng.normal(0, 0.8, 1000)
    result = paired_comparison(y, encoded, control, "rmse", "regression")
    rmse = metrics.root_mean_squared_error
    assert result["delta"] == pytest.approx(rmse(y, control) - rmse(y, encoded))
    assert 0 < result["ci_low"] < result["delta"] < result["ci_high"]
    assert "mcnemar_p" not in result
    flipped = paired_comparison(y, control, encoded, "rmse", "regression")
    assert flipped["delta"] == pytest.approx(-result["delta"]) and flipped["ci_high"] < 0
    r2 = paired_comparison(y, encoded, control, "r2", "regression")
    assert r2["delta"] == pytest.approx(metrics.r2_score(y, encoded) - metrics.r2_score(y, control))


def test_accuracy_comparison_includes_mcnemar():
    y, a, b = labels(400, 0.9, 0.8)
    result = paired_comparison(y, a, b, "accuracy", "classification")
    assert result["delta"] == pytest.approx(np.mean(a == y) - np.mean(b == y))
    assert result["mcnemar_p"] == mcnemar_exact_p(y, a, b) < 0.01
    assert "mcnemar_p" not in paired_comparison(y, a, b, "f1", "classification")
    with pytest.raises(ValueError, match="unknown metric 'roc_auc'"):
        paired_comparison(y, a, b, "roc_auc", "classification")


def test_2000_rows_1000_resamples_is_fast():
    y, a, b = labels(2000, 0.9, 0.85)
    rng = np.random.default_rng(2)
    yr = rng.normal(size=2000)
    for args in ((y, a, b, "accuracy"), (yr, yr + rng.normal(size=2000), yr, "rmse")):
        started = time.perf_counter()
        paired_bootstrap_ci(*args, n_resamples=1000)
        assert time.perf_counter() - started < 2.0  # ~0.3 s; sklearn per resample: 3-11 s
