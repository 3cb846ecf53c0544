"""How feature sets are compared (the ``evaluation`` group): the main metric, its deltas
against each control, and paired statistics on the same test rows."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from aesweep.errors import ConfigError
from aesweep.names import (
    CONTROLS,
    ENCODED,
    MAIN_METRIC,
    METRICS,
    PAIRED_CONTROLS,
    PAIRED_METRICS,
    ci_keys,
    delta_key,
    improvement,
    mcnemar_key,
    metric_key,
)


def main_metric(cfg: DictConfig, task: str) -> str:
    """``evaluation.metric``, or the task's default; checked against the task's metrics."""
    metric = cfg.evaluation.metric or MAIN_METRIC[task]
    if metric not in METRICS[task]:
        raise ConfigError("evaluation.metric", f"{metric!r} is not a {task} metric; choose one "
                                               f"of {', '.join(METRICS[task])}")
    return metric


def compare(metrics: dict[str, float], metric: str) -> dict[str, float]:
    """``delta_vs_<control>`` of the main metric for every control that was scored."""
    encoded = metrics[metric_key(ENCODED, metric)]
    return {delta_key(control): improvement(encoded, metrics[metric_key(control, metric)], metric)
            for control in CONTROLS if metric_key(control, metric) in metrics}


def paired_tests(y_test: np.ndarray, predictions: dict[str, np.ndarray], metric: str,
                 task: str, resamples: int, seed: int) -> dict[str, float]:
    """Encoded vs raw and vs PCA on the same test rows: a paired bootstrap CI of the
    difference in ``metric`` and, for accuracy, McNemar's exact p-value."""
    if resamples == 0 or metric not in PAIRED_METRICS:
        return {}
    from aesweep.stats import paired_comparison

    out: dict[str, float] = {}
    for control in PAIRED_CONTROLS:
        if control not in predictions:
            continue
        result = paired_comparison(y_test, predictions[ENCODED], predictions[control], metric,
                                   task, n_resamples=resamples, random_state=seed)
        low, high = ci_keys(control)
        out[low], out[high] = result["ci_low"], result["ci_high"]
        if "mcnemar_p" in result:
            out[mcnemar_key(control)] = result["mcnemar_p"]
    return out
