"""Mixed tables for ``dataset=csv`` and ``dataset=parquet``: categorical columns, gaps,
and the ``ColumnTransformer`` that turns them into the encoder's input.

A mixed table stays one float32 matrix until the pipeline: numeric columns as they are
(NaN for a gap), each categorical column as its integer category codes (NaN for a gap).
The codes are labels only; which of them become one-hot columns is learned by
:func:`make_preprocessor` on training rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from aesweep.errors import ConfigError, DataError

AUTO = "auto"
CATEGORICAL_FILLS = ("most_frequent", "constant")
# The code a categorical gap becomes with categorical_fill=constant: its own level.
MISSING_CODE = -1.0
NUMERIC_STEP, CATEGORICAL_STEP = "numeric", "categorical"


@dataclass
class Features:
    """A table's features. ``X``: (n_rows, n_features) float64, NaN for gaps."""

    X: np.ndarray
    names: list[str]
    categorical: list[int]  # column indices of X holding category codes
    levels: dict[str, list[str]]  # each categorical column's categories, by code


def read_parquet(path: str, where: str) -> pd.DataFrame:
    """The table in a Parquet file; a :class:`DataError` naming ``where`` if unreadable."""
    try:
        return pd.read_parquet(Path(path).expanduser())
    except Exception as exc:  # pyarrow raises its own types, and OSError, and ValueError
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(where, f"cannot read it as Parquet ({type(exc).__name__}: {text})"
                        ) from None


def categorical_columns(features: pd.DataFrame, categorical: Any) -> list[str]:
    """The names ``dataset.categorical`` picks: a list, or ``auto`` for object, category
    and bool columns."""
    if categorical is None:
        return []
    if isinstance(categorical, str):
        if categorical != AUTO:
            raise ConfigError("dataset.categorical",
                              f"{categorical!r} is neither a list of columns nor 'auto'")
        return [str(c) for c, dtype in features.dtypes.items()
                if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype)
                or pd.api.types.is_string_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)]
    names = [str(c) for c in categorical]
    absent = [c for c in names if c not in features.columns]
    if absent:
        columns = ", ".join(map(str, features.columns[:20]))
        raise ConfigError("dataset.categorical",
                          f"no such feature column: {', '.join(absent)}; columns are: {columns}")
    return names


def encode_features(features: pd.DataFrame, categorical: list[str], where: str,
                    max_categories: int) -> Features:
    """The matrix of :class:`Features`; raises :class:`DataError` for a non-numeric column
    not listed as categorical, an infinite value, an all-missing column, or a categorical
    column with more than ``max_categories`` levels."""
    empty = [str(c) for c in features.columns if features[c].isna().all()]
    if empty:
        raise DataError(where, f"columns with no values at all: {', '.join(empty[:10])}; "
                               f"drop them")
    numeric = [c for c in features.columns if c not in categorical]
    not_numeric = [str(c) for c in numeric
                   if not pd.api.types.is_numeric_dtype(features[c])
                   or pd.api.types.is_bool_dtype(features[c])]
    if not_numeric:
        raise DataError(where, f"feature columns must be numeric unless listed in "
                               f"dataset.categorical (or dataset.categorical=auto); not "
                               f"numeric: {', '.join(not_numeric[:10])}")
    X = np.empty(features.shape, dtype=np.float64)
    levels: dict[str, list[str]] = {}
    for i, column in enumerate(features.columns):
        if column in categorical:
            values = pd.Categorical(features[column])
            if len(values.categories) > max_categories:
                raise ConfigError("dataset.max_categories",
                                  f"column {column!r} of {where} has {len(values.categories)} "
                                  f"levels, more than {max_categories}; raise "
                                  f"dataset.max_categories or drop the column")
            X[:, i] = np.where(values.codes < 0, np.nan, values.codes)
            levels[str(column)] = [str(level) for level in values.categories]
        else:
            X[:, i] = features[column].to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(X).any(axis=0)
    if infinite.any():
        raise DataError(where, f"infinite values in columns: "
                               f"{', '.join(map(str, features.columns[infinite][:10]))}")
    cat_idx = [i for i, c in enumerate(features.columns) if c in categorical]
    return Features(X, [str(c) for c in features.columns], cat_idx, levels)


def make_preprocessor(scaler: Any, n_features: int, categorical: list[int],
                      categorical_fill: str = "most_frequent") -> ColumnTransformer:
    """Impute, scale the numeric columns with ``scaler`` (an estimator or
    ``"passthrough"``), one-hot encode the categorical ones (categories unseen in fit are
    all zeros). Output (n_rows, n_numeric + sum of categories seen in fit), numeric first."""
    numeric = [i for i in range(n_features) if i not in categorical]
    parts: list[tuple[str, Pipeline, list[int]]] = []
    if numeric:
        steps = [SimpleImputer(strategy="median")]
        parts.append((NUMERIC_STEP, make_pipeline(*steps, scaler), numeric))
    if categorical:
        if categorical_fill not in CATEGORICAL_FILLS:
            raise ConfigError("dataset.categorical_fill",
                              f"{categorical_fill!r}; choose one of {', '.join(CATEGORICAL_FILLS)}")
        imputer = SimpleImputer(strategy=categorical_fill, fill_value=MISSING_CODE)
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)
        parts.append((CATEGORICAL_STEP, make_pipeline(imputer, onehot), categorical))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def block_sizes(preprocessor: ColumnTransformer) -> tuple[int, list[int]]:
    """A fitted preprocessor's layout: the numeric column count and each one-hot block's
    width, in output order."""
    fitted = preprocessor.named_transformers_
    n_numeric = len(preprocessor.transformers_[0][2]) if NUMERIC_STEP in fitted else 0
    if CATEGORICAL_STEP not in fitted:
        return n_numeric, []
    onehot = fitted[CATEGORICAL_STEP][-1]
    return n_numeric, [len(levels) for levels in onehot.categories_]


def softmax_blocks(out: np.ndarray, n_numeric: int, blocks: Sequence[int]) -> None:
    """Replace each one-hot block's logits in ``out`` (n_rows, n_numeric + sum(blocks))
    by their softmax, in place."""
    start = n_numeric
    for width in blocks:
        logits = out[:, start:start + width]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        out[:, start:start + width] = exp / exp.sum(axis=1, keepdims=True)
        start += width


def reconstruction_parts(X: np.ndarray, reconstruction: np.ndarray, n_numeric: int,
                         blocks: list[int]) -> dict[str, float]:
    """MSE over the numeric columns and the mean cross-entropy of each categorical block
    (its reconstructed probabilities against its one-hot truth), averaged over blocks.
    ``X``, ``reconstruction``: (n_rows, n_numeric + sum(blocks))."""
    parts: dict[str, float] = {}
    if n_numeric:
        diff = reconstruction[:, :n_numeric] - X[:, :n_numeric]
        parts["mse_numeric"] = float(np.mean(diff.astype(np.float64) ** 2))
    if blocks:
        start, losses = n_numeric, []
        for width in blocks:
            p = reconstruction[:, start:start + width].astype(np.float64)
            truth = X[:, start:start + width]
            # A row whose category was unseen in fit has an all-zero block: no loss term.
            losses.append(float(np.mean(-(truth * np.log(np.clip(p, 1e-12, 1))).sum(axis=1))))
            start += width
        parts["xent_categorical"] = float(np.mean(losses))
    return parts
