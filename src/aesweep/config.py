"""Structured configs: the typed schema behind every YAML file in ``conf/``.

Hydra merges each YAML option onto the dataclass registered here, so a wrong type
(``trainer.epochs=abc``) or an unknown key fails at composition, naming the key.
Ranges and cross-field rules live in :func:`validate_config`, run before any training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING, DictConfig, OmegaConf

from aesweep.errors import ConfigError


class Task(StrEnum):
    classification = "classification"
    regression = "regression"
    auto = "auto"  # csv only: decided from the target column


class Scaler(StrEnum):
    standard = "standard"
    minmax = "minmax"
    none = "none"


class Activation(StrEnum):
    leaky_relu = "leaky_relu"
    relu = "relu"
    elu = "elu"
    selu = "selu"
    gelu = "gelu"
    swish = "swish"
    tanh = "tanh"
    sigmoid = "sigmoid"


class Control(StrEnum):
    pca = "pca"  # PCA with k = bottleneck components
    random = "random"  # the same encoder, untrained (seeded initial weights)


class OptimizerName(StrEnum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"
    rmsprop = "rmsprop"


# --- dataset -----------------------------------------------------------------------------


@dataclass
class SyntheticClassificationConfig:
    """Every data-shaping argument of ``sklearn.datasets.make_classification``.

    Field defaults are scikit-learn's; ``conf/dataset/*.yaml`` picks aesweep's.
    """

    name: str = "synthetic_classification"
    task: Task = Task.classification
    n_samples: int = 100
    n_features: int = 20
    n_informative: int = 2
    n_redundant: int = 2
    n_repeated: int = 0
    n_classes: int = 2
    n_clusters_per_class: int = 2
    weights: list[float] | None = None
    flip_y: float = 0.01
    class_sep: float = 1.0
    hypercube: bool = True
    shift: float = 0.0
    scale: float = 1.0
    shuffle: bool = True
    random_state: int | None = None


@dataclass
class SyntheticRegressionConfig:
    """Every data-shaping argument of ``sklearn.datasets.make_regression``."""

    name: str = "synthetic_regression"
    task: Task = Task.regression
    n_samples: int = 100
    n_features: int = 100
    n_informative: int = 10
    n_targets: int = 1
    bias: float = 0.0
    effective_rank: int | None = None
    tail_strength: float = 0.5
    noise: float = 0.0
    shuffle: bool = True
    random_state: int | None = None


@dataclass
class BundledDatasetConfig:
    """A dataset that ships inside scikit-learn (no download)."""

    name: str = MISSING
    task: Task = MISSING


@dataclass
class CsvDatasetConfig:
    name: str = "csv"
    path: str = MISSING
    target: str = MISSING
    task: Task = Task.auto


# --- the rest of the groups -----------------------------------------------------------------


@dataclass
class SplitConfig:
    test_size: float = 0.2
    val_size: float = 0.1
    stratify: bool = True
    random_state: int = II("seed")


@dataclass
class PreprocessingConfig:
    scaler: Scaler = Scaler.standard
    target_scaler: Scaler = Scaler.none


@dataclass
class DenseArchitectureConfig:
    name: str = "dense"
    bottleneck: int = 32
    # null means the reference widths: (2n, n) for n input features.
    hidden_units: list[int] | None = None
    activation: Activation = Activation.leaky_relu
    batch_norm: bool = True
    dropout: float = 0.0


@dataclass
class OptimizerConfig:
    name: OptimizerName = OptimizerName.adam
    learning_rate: float = 0.001


@dataclass
class TrainerConfig:
    epochs: int = 10
    batch_size: int = 64
    # Resume from the checkpoint of the same config at the most epochs <= trainer.epochs.
    reuse_checkpoints: bool = True
    # null: checkpoints/ beside a local SQLite store, else outputs/checkpoints.
    checkpoint_dir: str | None = None
    # Compile training with XLA. null: when the training is long enough to win back the
    # compile time (always on a GPU). Changes results by floating-point round-off only.
    jit_compile: bool | None = None


@dataclass
class DownstreamConfig:
    name: str = MISSING
    # Forwarded to the scikit-learn estimator; empty means scikit-learn's defaults.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluationConfig:
    controls: list[Control] = field(default_factory=lambda: [Control.pca, Control.random])
    # null: accuracy for classification, rmse for regression.
    metric: str | None = None
    # Resamples of the paired bootstrap CI of encoded vs each control; 0 skips it.
    bootstrap_resamples: int = 1000
    # Fit each control once per sweep: cached on disk, keyed by a hash of its inputs.
    cache_controls: bool = True


@dataclass
class TrackingConfig:
    uri: str = MISSING
    experiment: str = "aesweep"
    # null: next to a local SQLite store, or the tracking server's default.
    artifact_location: str | None = None
    log_model: bool = True
    # Set by the driver for every job of a multirun: the sweep's parent run.
    parent_run_id: str | None = None


@dataclass
class SweepConfig:
    # Skip a multirun job whose config already has a FINISHED run in the experiment.
    skip_finished: bool = True


@dataclass
class AesweepConfig:
    seed: int = 0
    dataset: Any = MISSING
    split: SplitConfig = field(default_factory=SplitConfig)
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    architecture: DenseArchitectureConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    trainer: TrainerConfig = MISSING
    downstream: DownstreamConfig = MISSING
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = MISSING
    sweep: SweepConfig = field(default_factory=SweepConfig)


def register_configs() -> None:
    """Register the schemas that ``conf/`` YAML files extend via their defaults lists."""
    cs = ConfigStore.instance()
    cs.store(name="aesweep_schema", node=AesweepConfig)
    # Under schema/ so that they are not listed as options of the groups themselves.
    schemas: dict[str, type] = {
        "dataset/synthetic_classification": SyntheticClassificationConfig,
        "dataset/synthetic_regression": SyntheticRegressionConfig,
        "dataset/bundled": BundledDatasetConfig,
        "dataset/csv": CsvDatasetConfig,
        "architecture/dense": DenseArchitectureConfig,
        "optimizer/optimizer": OptimizerConfig,
        "trainer/trainer": TrainerConfig,
        "downstream/downstream": DownstreamConfig,
        "tracking/tracking": TrackingConfig,
    }
    for path, node in schemas.items():
        group, name = path.split("/")
        cs.store(group=f"schema/{group}", name=name, node=node)


# Settings that change where or whether a job runs, not what it computes.
NOT_HASHED = ("tracking", "sweep", "trainer.reuse_checkpoints", "trainer.checkpoint_dir",
              "trainer.jit_compile", "evaluation.cache_controls")


def config_hash(cfg: DictConfig) -> str:
    """A stable hash of what a job computes: the resolved config without ``NOT_HASHED``."""
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    for key in NOT_HASHED:
        *parents, leaf = key.split(".")
        node = container
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    payload = container
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


# --- ranges and cross-field rules --------------------------------------------------------


def _at_least(cfg: DictConfig, key: str, low: float) -> None:
    value = OmegaConf.select(cfg, key)
    if value < low:
        raise ConfigError(key, f"must be >= {low:g}, got {value}")


def validate_config(cfg: DictConfig) -> None:
    """Check ranges and cross-field rules the types cannot express.

    Raises:
        ConfigError: naming the first offending key and what is allowed.
    """
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(missing[0], f"is required; set it on the command line, e.g. "
                                      f"{missing[0]}=VALUE")
    for key in ("architecture.bottleneck", "trainer.epochs", "trainer.batch_size"):
        _at_least(cfg, key, 1)
    if cfg.optimizer.learning_rate <= 0:
        raise ConfigError("optimizer.learning_rate",
                          f"must be > 0, got {cfg.optimizer.learning_rate}")
    if not 0 <= cfg.architecture.dropout < 1:
        raise ConfigError("architecture.dropout",
                          f"must be in [0, 1), got {cfg.architecture.dropout}")
    hidden = cfg.architecture.hidden_units
    if hidden is not None and any(width < 1 for width in hidden):
        raise ConfigError("architecture.hidden_units", f"widths must be >= 1, got {list(hidden)}")

    test_size, val_size = cfg.split.test_size, cfg.split.val_size
    if not 0 < test_size < 1:
        raise ConfigError("split.test_size", f"must be in (0, 1), got {test_size}")
    if val_size < 0:
        raise ConfigError("split.val_size", f"must be >= 0, got {val_size}")
    if test_size + val_size >= 1:
        raise ConfigError("split.val_size",
                          f"split.test_size + split.val_size must be < 1, got "
                          f"{test_size} + {val_size} = {test_size + val_size:g}")
    if cfg.evaluation.bootstrap_resamples < 0:
        raise ConfigError("evaluation.bootstrap_resamples",
                          f"must be >= 0, got {cfg.evaluation.bootstrap_resamples}")
    _validate_dataset(cfg.dataset)


def _validate_dataset(ds: DictConfig) -> None:
    """Cross-field rules; scikit-learn's generators check each argument's own range."""
    name = ds.name
    if name == "synthetic_classification":
        if ds.n_classes < 2:
            raise ConfigError("dataset.n_classes", f"must be >= 2, got {ds.n_classes}")
        used = ds.n_informative + ds.n_redundant + ds.n_repeated
        if used > ds.n_features:
            raise ConfigError(
                "dataset.n_features",
                f"n_informative + n_redundant + n_repeated must be <= n_features, got "
                f"{ds.n_informative} + {ds.n_redundant} + {ds.n_repeated} = {used} > "
                f"{ds.n_features}")
        if ds.n_classes * ds.n_clusters_per_class > 2**ds.n_informative:
            raise ConfigError(
                "dataset.n_informative",
                f"n_classes * n_clusters_per_class must be <= 2**n_informative, got "
                f"{ds.n_classes} * {ds.n_clusters_per_class} > 2**{ds.n_informative}")
    if name == "synthetic_regression" and ds.n_targets != 1:
        raise ConfigError("dataset.n_targets",
                          f"only single-target regression is supported, got {ds.n_targets}")
