"""Datasets, splits and scalers: the ``dataset``, ``split`` and ``preprocessing`` groups.

Everything here is pure: arrays in, arrays out. Features are float32 end to end.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from sklearn import datasets as skdatasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, MinMaxScaler, StandardScaler
from sklearn.utils.multiclass import type_of_target

from aesweep.csvdata import read_table
from aesweep.errors import ConfigError, DataError

# Integer targets with more distinct values than this are treated as regression by task=auto.
MAX_AUTO_CLASSES = 20

GENERATORS = {
    "synthetic_classification": (skdatasets.make_classification, "classification"),
    "synthetic_regression": (skdatasets.make_regression, "regression"),
}
FILE_DATASETS = ("csv", "parquet")
BUNDLED_LOADERS = {
    "digits": skdatasets.load_digits,
    "breast_cancer": skdatasets.load_breast_cancer,
    "wine": skdatasets.load_wine,
    "diabetes": skdatasets.load_diabetes,
}


@dataclass
class Dataset:
    """A whole dataset. ``X``: (n_samples, n_features) float32; ``y``: (n_samples,)."""

    name: str
    task: str  # "classification" | "regression"
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    source: str  # where the rows came from, for MLflow's dataset input
    # A mixed table (see aesweep.tabular): X holds category codes in these columns, and
    # NaN for gaps; its pipelines start with a ColumnTransformer instead of a scaler.
    categorical: list[int] = field(default_factory=list)
    tabular: bool = False
    categorical_fill: str = "most_frequent"
    levels: dict[str, list[str]] = field(default_factory=dict)  # categories by code


@dataclass
class Splits:
    """Train/validation/test rows. ``X_val``/``y_val`` are None when ``split.val_size`` is 0."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray


def load_dataset(cfg: DictConfig) -> Dataset:
    """Build the dataset the ``dataset`` config group describes.

    A multirun's jobs share one process: each distinct dataset is built once in it.
    """
    spec = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    if cfg.name in FILE_DATASETS:  # a file edited between jobs is read again
        file = Path(str(cfg.path)).expanduser()
        spec["mtime"] = file.stat().st_mtime_ns if file.is_file() else None
    return _load_dataset(json.dumps(spec, sort_keys=True))


@functools.lru_cache(maxsize=4)
def _load_dataset(spec: str) -> Dataset:
    cfg = OmegaConf.create(json.loads(spec))
    name = cfg.name
    if name in GENERATORS:
        generator, task = GENERATORS[name]
        kwargs = _generator_kwargs(cfg)
        try:
            X, y = generator(**kwargs)
        except (ValueError, TypeError) as exc:  # scikit-learn's InvalidParameterError is both
            param = re.search(r"'(\w+)' parameter", str(exc))
            key = f"dataset.{param.group(1)}" if param else "dataset"
            raise ConfigError(key, str(exc)) from None
        return _dataset(name, task, X, y, source=_describe(name, kwargs))
    if name in BUNDLED_LOADERS:
        bunch = BUNDLED_LOADERS[name]()
        return _dataset(name, cfg.task, bunch.data, bunch.target,
                        feature_names=[str(f) for f in bunch.feature_names],
                        source=f"sklearn.datasets.load_{name}")
    if name in FILE_DATASETS:
        return load_csv(cfg.path, cfg.target, cfg.task, categorical=cfg.categorical,
                        max_categories=cfg.max_categories,
                        categorical_fill=cfg.categorical_fill, file_format=name)
    raise ConfigError("dataset.name", f"unknown dataset {name!r}")


def _generator_kwargs(cfg: DictConfig) -> dict[str, Any]:
    kwargs = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(kwargs, dict)
    for key in ("name", "task", "mtime", "image_shape"):
        kwargs.pop(key, None)
    return kwargs


def _describe(name: str, kwargs: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"sklearn.datasets.make_{name.removeprefix('synthetic_')}({args})"


def _dataset(name: str, task: str, X: Any, y: Any, source: str,
             feature_names: list[str] | None = None) -> Dataset:
    X = np.asarray(X, dtype=np.float32)
    names = feature_names or [f"x{i}" for i in range(X.shape[1])]
    return Dataset(name=name, task=task, X=X, y=np.asarray(y), feature_names=names,
                   source=source)


def load_csv(path: str, target: str, task: str = "auto", categorical: Any = None,
             max_categories: int = 50, categorical_fill: str = "most_frequent",
             file_format: str = "csv") -> Dataset:
    """Read a CSV (or Parquet file) of features and one target column, parsed as data only.

    Without categorical columns and gaps, X is the numeric table as float32; otherwise a
    mixed table (see :mod:`aesweep.tabular`) for the pipelines' ``ColumnTransformer``.

    Raises:
        DataError: naming the file (and column) for any problem :func:`read_table` finds
            with the file or its table, or a non-numeric target with ``task=regression``.
    """
    table, y_column = read_table(path, target, categorical, max_categories, file_format)
    task = _infer_task(y_column) if task == "auto" else task
    if task == "classification":
        y = LabelEncoder().fit_transform(y_column.astype(str) if y_column.dtype == object
                                         else y_column)
    else:
        if not pd.api.types.is_numeric_dtype(y_column):
            raise DataError(f"dataset.target={target}",
                            "regression needs a numeric target; set dataset.task=classification")
        y = y_column.to_numpy(dtype=np.float64)
    file = Path(path).expanduser()
    dataset = _dataset(file.stem, task, table.X, y, feature_names=table.names,
                       source=str(file.resolve()))
    dataset.categorical = table.categorical
    dataset.tabular = bool(table.categorical) or bool(np.isnan(table.X).any())
    dataset.categorical_fill = categorical_fill
    dataset.levels = table.levels
    return dataset


def _infer_task(y: pd.Series) -> str:
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    kind = type_of_target(y.to_numpy())
    if kind in ("binary", "multiclass") and y.nunique() <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def check_target(dataset: Dataset, cfg: DictConfig) -> None:
    """Reject targets no model can learn from; ``cfg`` is the ``dataset`` group."""
    source = (f"dataset.target={cfg.target} in {cfg.path}" if cfg.name in FILE_DATASETS
              else f"dataset={dataset.name}")
    if dataset.task == "classification" and len(np.unique(dataset.y)) < 2:
        raise DataError(source, "the target has a single class; classification needs >= 2")
    if dataset.task == "regression" and np.ptp(dataset.y) == 0:
        raise DataError(source, "the target is constant; regression needs variation")


def split_dataset(dataset: Dataset, cfg: DictConfig) -> Splits:
    """Test rows first from the whole set, then validation rows from the rest.

    The test rows equal ``train_test_split(X, y, test_size, random_state, stratify)``;
    ``val_size`` is a fraction of the whole dataset.
    """
    X, y = dataset.X, dataset.y
    stratify = cfg.stratify and dataset.task == "classification"
    try:
        X_rest, X_test, y_rest, y_test = train_test_split(
            X, y, test_size=cfg.test_size, random_state=cfg.random_state,
            stratify=y if stratify else None)
        if cfg.val_size == 0:
            return Splits(X_rest, y_rest, None, None, X_test, y_test)
        # A row count of the whole set, rounded as scikit-learn rounds test_size (up);
        # round() first so that 0.1 * 100 = 10.000000000000002 stays 10.
        n_val = math.ceil(round(cfg.val_size * len(y), 9))
        X_train, X_val, y_train, y_val = train_test_split(
            X_rest, y_rest, test_size=n_val,
            random_state=cfg.random_state, stratify=y_rest if stratify else None)
    except ValueError as exc:
        key = "split.stratify" if stratify and "class" in str(exc) else "split.test_size"
        raise DataError(key, f"cannot split {len(y)} rows of {dataset.name}: {exc}") from None
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test)


def make_scaler(name: str) -> StandardScaler | MinMaxScaler | str:
    """A fresh scaler for ``preprocessing.scaler``; ``"passthrough"`` for none."""
    if name == "standard":
        return StandardScaler()
    if name == "minmax":
        return MinMaxScaler()
    return "passthrough"
