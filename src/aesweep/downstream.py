"""Downstream scikit-learn models (the ``downstream`` group) and their metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from sklearn import metrics
from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import label_binarize
from sklearn.svm import SVC, SVR

from aesweep.data import make_scaler
from aesweep.errors import ConfigError

ESTIMATORS: dict[str, tuple[type[BaseEstimator], str]] = {
    "logistic_regression": (LogisticRegression, "classification"),
    "random_forest": (RandomForestClassifier, "classification"),
    "svc": (SVC, "classification"),
    "linear_regression": (LinearRegression, "regression"),
    "ridge": (Ridge, "regression"),
    "svr": (SVR, "regression"),
    "random_forest_regressor": (RandomForestRegressor, "regression"),
}


def build_estimator(cfg: DictConfig, task: str, target_scaler: str = "none") -> BaseEstimator:
    """An unfitted estimator for ``cfg`` (the ``downstream`` group), checked against ``task``.

    Regression targets are scaled inside ``TransformedTargetRegressor``, so predictions
    and metrics stay in the target's original units.
    """
    name = cfg.name
    if name not in ESTIMATORS:
        raise ConfigError("downstream", f"unknown model {name!r}; choose one of {_names(task)}")
    cls, kind = ESTIMATORS[name]
    if kind != task:
        raise ConfigError("downstream", f"{name} is a {kind} model but the dataset is a {task} "
                                        f"task; choose one of {_names(task)}")
    params = OmegaConf.to_container(cfg.params, resolve=True)
    assert isinstance(params, dict)
    try:  # an unknown parameter; values are checked by a first fit in prepare_job
        estimator = cls().set_params(**params)
    except ValueError as exc:
        raise ConfigError("downstream.params", str(exc).splitlines()[0]) from None
    if task == "classification":
        if target_scaler != "none":
            raise ConfigError("preprocessing.target_scaler",
                              f"applies to regression only; use none for {task}")
        return estimator
    if target_scaler == "none":
        return estimator
    return TransformedTargetRegressor(regressor=estimator, transformer=make_scaler(target_scaler))


def _names(task: str) -> str:
    return ", ".join(name for name, (_, kind) in ESTIMATORS.items() if kind == task)


def score_model(model: Any, X: np.ndarray, y: np.ndarray, task: str,
                y_pred: np.ndarray | None = None) -> dict[str, float]:
    """Test metrics of a fitted model on ``X`` (n_samples, n_features) and ``y`` (n_samples,).

    Classification: accuracy, precision, recall, F1 (binary, or macro for multiclass) and
    ROC AUC (macro one-vs-rest for multiclass). Regression: MAE, RMSE, R².
    ``y_pred`` saves a second ``model.predict(X)`` when the caller has it.
    """
    y_pred = model.predict(X) if y_pred is None else y_pred
    if task == "regression":
        return {
            "mae": float(metrics.mean_absolute_error(y, y_pred)),
            "rmse": float(metrics.root_mean_squared_error(y, y_pred)),
            "r2": float(metrics.r2_score(y, y_pred)),
        }
    classes = model.classes_
    average = "binary" if len(classes) == 2 else "macro"
    scores = model.predict_proba(X) if hasattr(model, "predict_proba") else (
        model.decision_function(X))
    if len(classes) == 2:
        roc_auc = metrics.roc_auc_score(y, scores[:, 1] if scores.ndim == 2 else scores)
    else:  # one-vs-rest, macro: one AUC per class column, averaged
        roc_auc = metrics.roc_auc_score(label_binarize(y, classes=classes), scores,
                                        average="macro")
    return {
        "accuracy": float(metrics.accuracy_score(y, y_pred)),
        "precision": float(metrics.precision_score(y, y_pred, average=average,
                                                   zero_division=0)),
        "recall": float(metrics.recall_score(y, y_pred, average=average, zero_division=0)),
        "f1": float(metrics.f1_score(y, y_pred, average=average, zero_division=0)),
        "roc_auc": float(roc_auc),
    }
