"""The feature sets a job compares, each a scikit-learn ``Pipeline`` ending in the same
downstream model: raw, encoded, and the controls (PCA at the same size, untrained encoder).

Every step is fit on training rows only, by construction of ``Pipeline.fit``.
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from aesweep.data import make_scaler
from aesweep.features import AutoencoderFeatures


def autoencoder_from_config(cfg: DictConfig, checkpoint_dir: str | None = None,
                            checkpoint_epochs: Sequence[int] = ()) -> AutoencoderFeatures:
    """The ``architecture``, ``optimizer`` and ``trainer`` groups as one transformer."""
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
        jit_compile=trainer.jit_compile,
        checkpoint_dir=checkpoint_dir if cfg.trainer.reuse_checkpoints else None,
        checkpoint_epochs=tuple(checkpoint_epochs),
    )


def pca_components(bottleneck: int, n_train: int, n_features: int) -> int:
    """PCA keeps at most min(n_samples, n_features) components."""
    return min(bottleneck, n_train, n_features)


def build_pipelines(cfg: DictConfig, estimator: BaseEstimator, n_train: int, n_features: int,
                    checkpoint_dir: str | None = None,
                    checkpoint_epochs: Sequence[int] = ()) -> dict[str, Pipeline]:
    """Unfitted pipelines by feature set: ``raw``, ``encoded`` and the configured controls."""
    scaler = cfg.preprocessing.scaler.value

    def pipeline(*steps: tuple[str, object]) -> Pipeline:
        return Pipeline([("scale", make_scaler(scaler)), *steps, ("model", clone(estimator))])

    pipelines = {
        "raw": pipeline(),
        "encoded": pipeline(("encode", autoencoder_from_config(cfg, checkpoint_dir,
                                                               checkpoint_epochs))),
    }
    controls = {control.value for control in cfg.evaluation.controls}
    if "pca" in controls:
        k = pca_components(cfg.architecture.bottleneck, n_train, n_features)
        pipelines["pca"] = pipeline(("encode", PCA(n_components=k, random_state=cfg.seed)))
    if "random" in controls:
        untrained = autoencoder_from_config(cfg).set_params(epochs=0)
        pipelines["random"] = pipeline(("encode", untrained))
    return pipelines
