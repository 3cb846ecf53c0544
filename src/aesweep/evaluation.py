"""How feature sets are compared (the ``evaluation`` group): the main metric, every feature
set's validation scores (what a sweep selects on), its deltas against each control, and
paired statistics on the same test rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline

from aesweep.downstream import score_model
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


def validation_source(X_val: np.ndarray | None, cv_folds: int) -> str:
    """``holdout`` when there are validation rows, else ``cv<K>``: see :func:`validation_scores`."""
    return "holdout" if X_val is not None else f"cv{cv_folds}"


def validation_scores(pipeline: Pipeline, X_train: np.ndarray, y_train: np.ndarray,
                      X_val: np.ndarray | None, y_val: np.ndarray | None, task: str,
                      cv_folds: int) -> dict[str, float]:
    """A fitted pipeline's scores on the validation rows ``X_val`` (n_val, n_features).

    Without validation rows (``split.val_size=0``), the mean over ``cv_folds`` folds of
    the training rows: the pipeline's fitted transforms make the features once (they are
    unsupervised, fitted on the training rows alone), and a clone of its final model is
    refit on each fold's other rows. The test rows are never touched, so a sweep can
    select on these scores and report the test rows once, for its choice.
    """
    if X_val is not None:
        return score_model(pipeline, X_val, y_val, task)
    features, model = pipeline[:-1].transform(X_train), pipeline[-1]
    folds = check_cv(cv_folds, y_train, classifier=task == "classification")
    scores: list[dict[str, Any]] = []
    for fit_rows, held_out in folds.split(features, y_train):
        fold_model = clone(model).fit(features[fit_rows], y_train[fit_rows])
        scores.append(score_model(fold_model, features[held_out], y_train[held_out], task))
    return {key: float(np.mean([fold[key] for fold in scores])) for key in scores[0]}


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
