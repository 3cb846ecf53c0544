"""The feature sets a job compares, each a scikit-learn ``Pipeline`` ending in the same
downstream model: raw, encoded, and the controls (PCA at the same size, untrained encoder).

Every step is fit on training rows only, by construction of ``Pipeline.fit``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

# Where they were defined before they moved to the light module: imported from here too.
from aesweep.autoencoder_params import AUTOENCODER_KEYS as AUTOENCODER_KEYS
from aesweep.autoencoder_params import autoencoder_params, config_value
from aesweep.autoencoder_params import check_autoencoder as check_autoencoder
from aesweep.data import Dataset, make_scaler
from aesweep.errors import ConfigError
from aesweep.features import AutoencoderFeatures
from aesweep.names import ENCODE_STEP, ENCODED, MODEL_STEP, RANDOM, RAW, SCALE_STEP
from aesweep.names import PCA as PCA_SET
from aesweep.tabular import make_preprocessor


def autoencoder_from_config(cfg: DictConfig) -> AutoencoderFeatures:
    """The ``architecture``, ``optimizer`` and ``trainer`` groups as one transformer.

    With ``trainer.reuse_checkpoints`` it checkpoints under ``paths.checkpoints``, at its
    own epoch count and at the sweep's other ones (``sweep.epochs``). A key the
    architecture lacks (``architecture.l1`` of dense) leaves the estimator's default. The
    members with a ``beta`` (``variational``) are variational; ``dataset.image_shape`` is
    read only by an architecture with ``filters`` (conv)."""
    return AutoencoderFeatures(**autoencoder_params(cfg))


def check_image_shape(cfg: DictConfig, dataset: Dataset, X_train: np.ndarray) -> None:
    """``dataset.image_shape``, when set or when the architecture is conv, against the
    autoencoder's input width: the features, or a mixed table's one-hot width."""
    shape = config_value(OmegaConf.select(cfg, "dataset.image_shape"))
    conv = OmegaConf.select(cfg, "architecture.filters") is not None
    if shape is None and not conv:
        return
    n = (make_preprocessing(cfg, dataset).fit_transform(X_train).shape[1] if dataset.tabular
         else X_train.shape[1])
    if shape is None:
        side = math.isqrt(n)
        example = [side, side, 1] if side * side == n else [n, 1, 1]
        raise ConfigError("dataset.image_shape", f"architecture=conv needs the [height, width, "
                          f"channels] of a row's {n} features, e.g. "
                          f"dataset.image_shape=[{','.join(map(str, example))}]")
    if len(shape) != 3 or min(shape) < 1 or math.prod(shape) != n:
        raise ConfigError("dataset.image_shape", f"must be [height, width, channels], each "
                          f">= 1, holding the {n} features of a row; got {shape} "
                          f"({math.prod(shape)} values)")


def pca_components(bottleneck: int, n_train: int, n_features: int) -> int:
    """PCA keeps at most min(n_samples, n_features) components."""
    return min(bottleneck, n_train, n_features)


def make_preprocessing(cfg: DictConfig, dataset: Dataset | None = None) -> Any:
    """The first step of every pipeline: the ``preprocessing.scaler``, or for a mixed
    table (categorical columns or gaps) a ``ColumnTransformer`` that imputes, scales the
    numeric columns with it and one-hot encodes the categorical ones."""
    scaler = make_scaler(cfg.preprocessing.scaler.value)
    if dataset is None or not dataset.tabular:
        return scaler
    return make_preprocessor(scaler, dataset.X.shape[1], dataset.categorical,
                             dataset.categorical_fill)


def build_pipelines(cfg: DictConfig, estimator: BaseEstimator, n_train: int,
                    n_features: int, dataset: Dataset | None = None) -> dict[str, Pipeline]:
    """Unfitted pipelines by feature set: ``raw``, ``encoded`` and the configured controls.
    ``dataset`` decides the first step (see :func:`make_preprocessing`)."""

    def pipeline(*steps: tuple[str, object]) -> Pipeline:
        return Pipeline([(SCALE_STEP, make_preprocessing(cfg, dataset)), *steps,
                         (MODEL_STEP, clone(estimator))])

    autoencoder = autoencoder_from_config(cfg)
    pipelines = {RAW: pipeline(), ENCODED: pipeline((ENCODE_STEP, autoencoder))}
    controls = {control.value for control in cfg.evaluation.controls}
    if PCA_SET in controls:
        k = pca_components(cfg.architecture.bottleneck, n_train, n_features)
        pipelines[PCA_SET] = pipeline((ENCODE_STEP, PCA(n_components=k, random_state=cfg.seed)))
    if RANDOM in controls:
        untrained = clone(autoencoder).set_params(epochs=0, checkpoint_dir=None,
                                                  checkpoint_epochs=())
        pipelines[RANDOM] = pipeline((ENCODE_STEP, untrained))
    return pipelines
