"""One job, without tracking: config -> data -> autoencoder -> features -> metrics.

:func:`prepare_job` does everything that can fail on bad input (config ranges, data,
split, downstream model, metric) before any training or any MLflow run. :func:`run_job`
then trains and evaluates. No MLflow: the only files are the training checkpoints
(``paths.checkpoints``) and the cached controls (``paths.cache``).
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from joblib import Memory
from omegaconf import DictConfig
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from threadpoolctl import ThreadpoolController

from aesweep.config import validate_config
from aesweep.data import Dataset, Splits, check_target, load_dataset, split_dataset
from aesweep.downstream import build_estimator, score_model
from aesweep.errors import ConfigError
from aesweep.evaluation import (
    compare,
    main_metric,
    paired_tests,
    validation_scores,
    validation_source,
)
from aesweep.features import AutoencoderFeatures
from aesweep.names import (
    CODE_MEAN_ABS,
    CODE_NEAR_ZERO,
    CONTROLS,
    ENCODE_STEP,
    ENCODED,
    EPOCH_METRICS,
    JIT_TAG,
    MODEL_STEP,
    NEAR_ZERO,
    PCA,
    PCA_CAPPED_TAG,
    RECON_MSE_TEST,
    RECON_MSE_VAL,
    RESUMED_TAG,
    TRAIN_SECONDS,
    VALIDATION_TAG,
    metric_key,
    val_metric_key,
)
from aesweep.pipelines import (
    build_pipelines,
    check_autoencoder,
    check_image_shape,
    make_preprocessing,
)
from aesweep.progress import EpochHook
from aesweep.tabular import block_sizes, reconstruction_parts


@dataclass
class PreparedJob:
    cfg: DictConfig
    dataset: Dataset
    splits: Splits
    estimator: BaseEstimator  # unfitted template, cloned per feature set
    metric: str  # the main metric

    @property
    def task(self) -> str:
        return self.dataset.task


@dataclass
class JobResult:
    task: str
    main_metric: str
    # Per-epoch "loss" and maybe "val_loss"; a VAE's "recon_loss" and "kl_loss" too.
    history: dict[str, list[float]]
    metrics: dict[str, float]
    tags: dict[str, str]
    pipelines: dict[str, Pipeline] = field(repr=False)  # fitted, by feature set
    # Fitting and scoring the downstream model on every feature set, and the paired tests:
    # from the end of training to the end of the job's computing (its overhead leaves it out).
    downstream_seconds: float = 0.0

    @property
    def encoder(self) -> AutoencoderFeatures:
        return self.pipelines[ENCODED].named_steps[ENCODE_STEP]


def prepare_job(cfg: DictConfig) -> PreparedJob:
    """Validate the config and load, check and split the data. Raises AesweepError."""
    validate_config(cfg)
    check_autoencoder(cfg)
    dataset = load_dataset(cfg.dataset)
    check_target(dataset, cfg.dataset)
    estimator = build_estimator(cfg.downstream, dataset.task,
                                cfg.preprocessing.target_scaler.value)
    metric = main_metric(cfg, dataset.task)
    splits = split_dataset(dataset, cfg.split)
    check_image_shape(cfg, dataset, splits.X_train)
    try_downstream(estimator, splits, make_preprocessing(cfg, dataset))
    return PreparedJob(cfg, dataset, splits, estimator, metric)


def try_downstream(estimator: BaseEstimator, splits: Splits, preprocessing: object = None,
                   rows: int = 200) -> None:
    """Fit the downstream model once on a few training rows, so that parameters which
    only clash at fit time (e.g. ``l1_ratio`` with the lbfgs solver) fail before training.
    A mixed table's ``preprocessing`` turns it into numbers first."""
    X, y = splits.X_train[:rows], splits.y_train[:rows]
    if len(np.unique(y)) < 2:
        return  # too few classes in the sample to tell: the real fit will say
    try:
        # One BLAS thread: on a few rows, more only wait on each other, and on a loaded
        # machine their spinning turned this 15 ms fit into a second.
        with warnings.catch_warnings(), _blas().limit(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")  # convergence on a sample is not the point
            if isinstance(preprocessing, ColumnTransformer):
                X = clone(preprocessing).fit_transform(X)
            clone(estimator).fit(X, y)
    except (ValueError, TypeError) as exc:
        raise ConfigError("downstream.params", str(exc).splitlines()[0]) from None


@functools.cache
def _blas() -> ThreadpoolController:
    """The BLAS and OpenMP pools of the libraries loaded (NumPy's, SciPy's), found once."""
    return ThreadpoolController()


def run_job(job: PreparedJob, on_epoch: EpochHook | None = None) -> JobResult:
    """Train the autoencoder, fit the downstream model on every feature set, and score
    each on the validation rows (or by cross-validation on the training rows, without
    them) and on the test rows. ``on_epoch`` follows the training epoch by epoch (see
    :data:`aesweep.progress.EpochHook`)."""
    s, cfg = job.splits, job.cfg
    n_train, n_features = s.X_train.shape
    if job.dataset.tabular:  # PCA's cap: the one-hot width the training rows give
        n_features = make_preprocessing(cfg, job.dataset).fit_transform(s.X_train).shape[1]
    pipelines = build_pipelines(cfg, job.estimator, n_train, n_features, dataset=job.dataset)

    # Fit the encoded pipeline step by step, so the autoencoder can report a validation
    # loss on rows scaled with the training statistics. Only training rows fit anything.
    encoded = pipelines[ENCODED]
    scale, autoencoder = encoded[:1], encoded.named_steps[ENCODE_STEP]
    X_train = scale.fit_transform(s.X_train)
    if job.dataset.tabular:  # cross-entropy on the one-hot blocks the fit produced
        autoencoder.set_params(categorical_blocks=tuple(block_sizes(scale[0])[1]))
    X_val = None if s.X_val is None else scale.transform(s.X_val)
    started = time.perf_counter()
    try:
        autoencoder.fit(X_train, validation_data=X_val, on_epoch=on_epoch)
    except FloatingPointError as exc:  # the loss became NaN or infinite
        raise ConfigError("optimizer.learning_rate", str(exc)) from None
    trained = time.perf_counter()
    train_seconds = trained - started
    encoded.named_steps[MODEL_STEP].fit(autoencoder.transform(X_train), s.y_train)

    metrics: dict[str, float] = {TRAIN_SECONDS: train_seconds}
    if X_val is not None:
        metrics[RECON_MSE_VAL] = autoencoder.reconstruction_error(X_val)
    X_test = scale.transform(s.X_test)
    metrics[RECON_MSE_TEST] = autoencoder.reconstruction_error(X_test)
    if autoencoder.l1 > 0:  # sparse: how sparse the code came out
        metrics.update(code_sparsity(autoencoder.transform(X_test)))
    if job.dataset.tabular:
        metrics |= recon_parts(scale[0], autoencoder, {"val": X_val, "test": X_test})
    predictions = {}
    # The controls do not depend on the encoder's training: a sweep fits each once.
    cache = cfg.paths.cache if cfg.evaluation.cache_controls else None
    fit_control = Memory(cache, verbose=0).cache(fit_and_score)
    folds = cfg.evaluation.cv_folds
    for name, pipeline in pipelines.items():
        if name == ENCODED:
            predictions[name] = pipeline.predict(s.X_test)
            scores = score_model(pipeline, s.X_test, s.y_test, job.task, predictions[name])
            val_scores = validation_scores(pipeline, s.X_train, s.y_train, s.X_val, s.y_val,
                                           job.task, folds)
        else:
            predictions[name], scores, val_scores = fit_control(
                pipeline, s.X_train, s.y_train, s.X_val, s.y_val, s.X_test, s.y_test,
                job.task, folds)
        metrics.update({metric_key(name, metric): value for metric, value in scores.items()})
        metrics.update({val_metric_key(name, metric): value
                        for metric, value in val_scores.items()})
    metrics.update(compare(metrics, job.metric))
    metrics.update(paired_tests(s.y_test, predictions, job.metric, job.task,
                                cfg.evaluation.bootstrap_resamples, cfg.seed))

    tags = {JIT_TAG: str(autoencoder.jit_compile_).lower(),
            VALIDATION_TAG: validation_source(s.X_val, folds)}
    if autoencoder.resumed_from_epochs_:
        tags[RESUMED_TAG] = str(autoencoder.resumed_from_epochs_)
    if PCA in pipelines:
        k = pipelines[PCA].named_steps[ENCODE_STEP].n_components
        if k < cfg.architecture.bottleneck:
            tags[PCA_CAPPED_TAG] = f"{cfg.architecture.bottleneck}->{k}"
    history = {key: autoencoder.history_[key] for key in EPOCH_METRICS
               if key in autoencoder.history_}
    return JobResult(job.task, job.metric, history, metrics, tags, pipelines,
                     downstream_seconds=time.perf_counter() - trained)


def code_sparsity(codes: np.ndarray) -> dict[str, float]:
    """Of bottleneck activations (n_rows, bottleneck): the mean |activation| and the
    fraction below ``NEAR_ZERO`` in absolute value."""
    magnitudes = np.abs(codes)
    return {CODE_MEAN_ABS: float(magnitudes.mean()),
            CODE_NEAR_ZERO: float((magnitudes < NEAR_ZERO).mean())}


def recon_parts(preprocessor: ColumnTransformer, autoencoder: AutoencoderFeatures,
                sets: dict[str, np.ndarray | None]) -> dict[str, float]:
    """A mixed table's reconstruction loss by part, e.g. ``recon_mse_numeric_test`` and
    ``recon_xent_categorical_test``; ``sets`` holds preprocessed rows by split name."""
    n_numeric, blocks = block_sizes(preprocessor)
    metrics = {}
    for split, X in sets.items():
        if X is None:
            continue
        X = np.asarray(X, dtype=np.float32)
        parts = reconstruction_parts(X, autoencoder.reconstruct(X), n_numeric, blocks)
        metrics |= {f"recon_{part}_{split}": value for part, value in parts.items()}
    return metrics


def fit_and_score(pipeline: Pipeline, X_train: np.ndarray, y_train: np.ndarray,
                  X_val: np.ndarray | None, y_val: np.ndarray | None, X_test: np.ndarray,
                  y_test: np.ndarray, task: str,
                  cv_folds: int) -> tuple[np.ndarray, dict[str, float], dict[str, float]]:
    """Fit an (unfitted) pipeline on the training rows; return its test predictions, test
    metrics and validation metrics (see :func:`~aesweep.evaluation.validation_scores`).
    Pure in its arguments, so ``joblib.Memory`` can cache it by their hash."""
    pipeline.fit(X_train, y_train)
    y_pred = pipeline.predict(X_test)
    return (y_pred, score_model(pipeline, X_test, y_test, task, y_pred),
            validation_scores(pipeline, X_train, y_train, X_val, y_val, task, cv_folds))


def headline(result: JobResult) -> str:
    """One line of the job's main figures."""
    m, key = result.metrics, result.main_metric
    controls = "  ".join(f"{name}={m[metric_key(name, key)]:.4f}" for name in CONTROLS
                         if metric_key(name, key) in m)
    return (f"{RECON_MSE_TEST}={m[RECON_MSE_TEST]:.4f}  {key}: "
            f"encoded={m[metric_key(ENCODED, key)]:.4f} "
            f"(validation {m[val_metric_key(ENCODED, key)]:.4f})  {controls}  "
            f"train={m[TRAIN_SECONDS]:.1f}s")
