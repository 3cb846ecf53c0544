"""Structured configs: the typed schema behind every YAML file in ``conf/``.

Hydra merges each YAML option onto the dataclass registered here, so a wrong type
(``trainer.epochs=abc``) or an unknown key fails at composition, naming the key.
Ranges and cross-field rules live in :mod:`aesweep.config.validation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING

from aesweep.autoencoder_params import ACTIVATIONS, NOISE_KINDS, OPTIMIZER_NAMES
from aesweep.names import PCA, RANDOM


class Task(StrEnum):
    classification = "classification"
    regression = "regression"
    auto = "auto"  # csv only: decided from the target column


class CheckpointStore(StrEnum):
    auto = "auto"
    local = "local"
    artifacts = "artifacts"


class Scaler(StrEnum):
    standard = "standard"
    minmax = "minmax"
    none = "none"


# Choices defined once, where they are used: the estimator's activations and optimizers,
# and the controls (PCA with k = bottleneck components; the encoder untrained).
Activation = StrEnum("Activation", [(name, name) for name in ACTIVATIONS])
OptimizerName = StrEnum("OptimizerName", [(name, name) for name in OPTIMIZER_NAMES])
NoiseKind = StrEnum("NoiseKind", [(name, name) for name in NOISE_KINDS])
Control = StrEnum("Control", [(name, name) for name in (PCA, RANDOM)])


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
    image_shape: list[int] | None = None  # [height, width, channels] of a row: conv


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
    image_shape: list[int] | None = None  # [height, width, channels] of a row: conv


@dataclass
class BundledDatasetConfig:
    """A dataset that ships inside scikit-learn (no download)."""

    name: str = MISSING
    task: Task = MISSING
    image_shape: list[int] | None = None  # [height, width, channels] of a row: conv


@dataclass
class CsvDatasetConfig:
    name: str = "csv"
    path: str = MISSING
    target: str = MISSING
    task: Task = Task.auto
    # Feature columns holding categories: a list of names, or "auto" (object, category and
    # bool columns). Any typed Any: OmegaConf has no union of a list and a string.
    categorical: Any = field(default_factory=list)
    # More levels than this in a categorical column is an error, not a wide one-hot block.
    max_categories: int = 50
    # How a categorical gap is filled: "most_frequent", or "constant" (a level of its own).
    categorical_fill: str = "most_frequent"
    image_shape: list[int] | None = None  # [height, width, channels] of a row: conv


@dataclass
class ParquetDatasetConfig(CsvDatasetConfig):
    name: str = "parquet"


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
class NoiseConfig:
    kind: NoiseKind = NoiseKind.gaussian
    # gaussian: the std; masking and swap: the probability that a cell is corrupted.
    level: float = 0.1


@dataclass
class DenoisingArchitectureConfig(DenseArchitectureConfig):
    """Dense, trained to reconstruct clean rows from corrupted ones."""

    name: str = "denoising"
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass
class SparseArchitectureConfig(DenseArchitectureConfig):
    """Dense, with an L1 activity penalty on the bottleneck."""

    name: str = "sparse"
    # The penalty: l1 x mean over rows of sum |code|, added to the reconstruction MSE.
    l1: float = 1e-3


@dataclass
class VariationalArchitectureConfig(DenseArchitectureConfig):
    """A β-VAE on dense's body: the features are the posterior means."""

    name: str = "variational"
    # The loss: reconstruction + beta x KL(q(z|x) || N(0, I)), both per input cell.
    beta: float = 1.0


@dataclass
class ConvArchitectureConfig(DenseArchitectureConfig):
    """2-D convolutions over ``dataset.image_shape``; dense's ``hidden_units`` is unused."""

    name: str = "conv"
    # The encoder's stride-2 Conv2D blocks; the decoder mirrors them with Conv2DTranspose.
    filters: list[int] = field(default_factory=lambda: [16, 32])


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
    # Without validation rows (split.val_size=0): the folds of the cross-validation on the
    # training rows that gives each feature set its validation score.
    cv_folds: int = 5


@dataclass
class PathsConfig:
    """Every path aesweep writes. A relative root is taken from the directory aesweep
    starts in (Hydra's ``runtime.cwd``), whatever ``hydra.job.chdir`` says."""

    root: str = "outputs"
    checkpoints: str = "${paths.root}/checkpoints"  # training checkpoints, by config
    cache: str = "${paths.root}/cache"  # fitted controls, by a hash of their inputs


@dataclass
class TrackingConfig:
    uri: str = MISSING
    # Where training checkpoints live: a local directory (paths.checkpoints) or the
    # tracking server's artifact store, so that jobs on other machines can resume from
    # them. auto: the artifact store unless the store is a database (SQLite) on this disk.
    checkpoints: CheckpointStore = CheckpointStore.auto
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
    # Set by the driver for every job of a multirun, so no job reads them back from MLflow:
    # the sweep's epoch counts (the longest job checkpoints at each on its way) and the
    # keys it varies (its children are named by them).
    epochs: list[int] = field(default_factory=list)
    swept_keys: list[str] = field(default_factory=list)
    # Set by aesweep's grid sweeper, for each job's "[k/N] ... ETA" line: the number of jobs
    # and when the sweep started (epoch seconds). null: no such line (a single run, a search).
    jobs: int | None = None
    started: float | None = None
    # Set by the search sweeper (hydra/sweeper=search): the job's trial and rung.
    trial: int | None = None
    rung: int | None = None


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
    paths: PathsConfig = MISSING


def register_configs() -> None:
    """Register the schemas that ``conf/`` YAML files extend via their defaults lists."""
    cs = ConfigStore.instance()
    cs.store(name="aesweep_schema", node=AesweepConfig)
    # At the root, not in groups, so that --help lists only the groups users choose from.
    schemas: dict[str, type] = {
        "dataset_synthetic_classification": SyntheticClassificationConfig,
        "dataset_synthetic_regression": SyntheticRegressionConfig,
        "dataset_bundled": BundledDatasetConfig,
        "dataset_csv": CsvDatasetConfig,
        "dataset_parquet": ParquetDatasetConfig,
        "architecture_dense": DenseArchitectureConfig,
        "optimizer": OptimizerConfig,
        "trainer": TrainerConfig,
        "downstream": DownstreamConfig,
        "tracking": TrackingConfig,
        "paths": PathsConfig,
    }
    for name, node in schemas.items():
        cs.store(name=f"schema_{name}", node=node)
    for name, node in {"denoising": DenoisingArchitectureConfig,
                       "sparse": SparseArchitectureConfig,
                       "variational": VariationalArchitectureConfig,
                       "conv": ConvArchitectureConfig}.items():
        cs.store(name=f"schema_architecture_{name}", node=_over_dense(node))


def _over_dense(cls: type[DenseArchitectureConfig]) -> DenseArchitectureConfig:
    """A schema merged after ``architecture/dense``: it gives the node its subclass type
    and its own fields' defaults, and leaves dense's fields missing, so that the merge
    keeps the values ``dense.yaml`` set (a parent's schema cannot merge into a child's)."""
    return cls(**{f.name: MISSING for f in fields(DenseArchitectureConfig)})
