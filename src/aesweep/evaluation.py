"""How feature sets are compared (the ``evaluation`` group): the main metric, its deltas
against each control, and paired statistics on the same test rows."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from aesweep.downstream import LOWER_IS_BETTER, MAIN_METRIC, METRICS
from aesweep.errors import ConfigError

CONTROLS = ("raw", "pca", "random")
# Metrics the paired bootstrap can resample from hard predictions.
PAIRED_METRICS = frozenset({"accuracy", "precision", "recall", "f1", "mae", "rmse", "r2"})


def main_metric(cfg: DictConfig, task: str) -> str:
    """``evaluation.metric``, or the task's default; checked against the task's metrics."""
    metric = cfg.evaluation.metric or MAIN_METRIC[task]
    if metric not in METRICS[task]:
        raise ConfigError("evaluation.metric", f"{metric!r} is not a {task} metric; choose one "
                                               f"of {', '.join(METRICS[task])}")
    return metric


def improvement(encoded: float, control: float, metric: str) -> float:
    """Encoded minus control, signed so that positive always means the encoder is better."""
    return control - encoded if metric in LOWER_IS_BETTER else encoded - control


def compare(metrics: dict[str, float], metric: str) -> dict[str, float]:
    """``delta_vs_<control>`` of the main metric for every control that was scored."""
    encoded = metrics[f"encoded_{metric}"]
    return {f"delta_vs_{control}": improvement(encoded, metrics[f"{control}_{metric}"], metric)
            for control in CONTROLS if f"{control}_{metric}" in metrics}


def paired_tests(y_test: np.ndarray, predictions: dict[str, np.ndarray], metric: str,
                 task: str, resamples: int, seed: int) -> dict[str, float]:
    """Encoded vs raw and vs PCA on the same test rows: a paired bootstrap CI of the
    difference in ``metric`` and, for accuracy, McNemar's exact p-value."""
    if resamples == 0 or metric not in PAIRED_METRICS:
        return {}
    from aesweep.stats import paired_comparison

    out: dict[str, float] = {}
    for control in ("raw", "pca"):
        if control not in predictions:
            continue
        result = paired_comparison(y_test, predictions["encoded"], predictions[control], metric,
                                   task, n_resamples=resamples, random_state=seed)
        out[f"ci_low_vs_{control}"] = result["ci_low"]
        out[f"ci_high_vs_{control}"] = result["ci_high"]
        if "mcnemar_p" in result:
            out[f"mcnemar_p_vs_{control}"] = result["mcnemar_p"]
    return out
