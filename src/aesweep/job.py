"""One job, without tracking: config -> data -> autoencoder -> features -> metrics.

:func:`prepare_job` does everything that can fail on bad input (config ranges, data,
split, downstream model) before any training or any MLflow run. :func:`run_job` then
trains and evaluates. Both are pure: no MLflow, no files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from omegaconf import DictConfig
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline

from aesweep.config import validate_config
from aesweep.data import Dataset, Splits, check_target, load_dataset, make_scaler, split_dataset
from aesweep.downstream import MAIN_METRIC, build_estimator, score_model
from aesweep.features import AutoencoderFeatures


@dataclass
class PreparedJob:
    cfg: DictConfig
    dataset: Dataset
    splits: Splits
    estimator: BaseEstimator  # unfitted template, cloned per feature set

    @property
    def task(self) -> str:
        return self.dataset.task


@dataclass
class JobResult:
    task: str
    main_metric: str
    history: dict[str, list[float]]  # per-epoch "loss" and maybe "val_loss"
    metrics: dict[str, float]
    pipelines: dict[str, Pipeline] = field(repr=False)  # fitted: "raw", "encoded"

    @property
    def encoder(self) -> AutoencoderFeatures:
        return self.pipelines["encoded"].named_steps["encode"]


def prepare_job(cfg: DictConfig) -> PreparedJob:
    """Validate the config and load, check and split the data. Raises AesweepError."""
    validate_config(cfg)
    dataset = load_dataset(cfg.dataset)
    check_target(dataset)
    estimator = build_estimator(cfg.downstream, dataset.task,
                                cfg.preprocessing.target_scaler.value)
    splits = split_dataset(dataset, cfg.split)
    return PreparedJob(cfg, dataset, splits, estimator)


def autoencoder_from_config(cfg: DictConfig) -> AutoencoderFeatures:
    arch, opt, trainer = cfg.architecture, cfg.optimizer, cfg.trainer
    return AutoencoderFeatures(
        bottleneck=arch.bottleneck,
        hidden_units=None if arch.hidden_units is None else list(arch.hidden_units),
        activation=arch.activation.value,
        batch_norm=arch.batch_norm,
        dropout=arch.dropout,
        optimizer=opt.name.value,
        learning_rate=opt.learning_rate,
        epochs=trainer.epochs,
        batch_size=trainer.batch_size,
        random_state=cfg.seed,
    )


def build_pipelines(job: PreparedJob) -> dict[str, Pipeline]:
    """Unfitted raw and encoded pipelines; each scales with statistics of its own fit rows."""
    scaler = job.cfg.preprocessing.scaler.value
    return {
        "raw": Pipeline([("scale", make_scaler(scaler)), ("model", clone(job.estimator))]),
        "encoded": Pipeline([
            ("scale", make_scaler(scaler)),
            ("encode", autoencoder_from_config(job.cfg)),
            ("model", clone(job.estimator)),
        ]),
    }


def run_job(job: PreparedJob) -> JobResult:
    """Train the autoencoder, fit the downstream model on raw and encoded features,
    and score both on the test rows."""
    s = job.splits
    pipelines = build_pipelines(job)
    pipelines["raw"].fit(s.X_train, s.y_train)

    # Fit the encoded pipeline step by step, so the autoencoder can report a validation
    # loss on rows scaled with the training statistics. Only training rows fit anything.
    encoded = pipelines["encoded"]
    scale, autoencoder = encoded[:1], encoded.named_steps["encode"]
    X_train = scale.fit_transform(s.X_train)
    X_val = None if s.X_val is None else scale.transform(s.X_val)
    started = time.perf_counter()
    autoencoder.fit(X_train, validation_data=X_val)
    train_seconds = time.perf_counter() - started
    encoded.named_steps["model"].fit(autoencoder.transform(X_train), s.y_train)

    metrics: dict[str, float] = {"train_seconds": train_seconds}
    if X_val is not None:
        metrics["recon_mse_val"] = autoencoder.reconstruction_error(X_val)
    metrics["recon_mse_test"] = autoencoder.reconstruction_error(scale.transform(s.X_test))
    for name, pipeline in pipelines.items():
        for metric, value in score_model(pipeline, s.X_test, s.y_test, job.task).items():
            metrics[f"{name}_{metric}"] = value

    history = {"loss": autoencoder.history_.get("loss", [])}
    if "val_loss" in autoencoder.history_:
        history["val_loss"] = autoencoder.history_["val_loss"]
    return JobResult(job.task, MAIN_METRIC[job.task], history, metrics, pipelines)


def headline(result: JobResult) -> str:
    """One line of the job's main figures."""
    m, key = result.metrics, result.main_metric
    return (f"recon_mse_test={m['recon_mse_test']:.4f}  {key}: raw={m[f'raw_{key}']:.4f} "
            f"encoded={m[f'encoded_{key}']:.4f}  train={m['train_seconds']:.1f}s")

