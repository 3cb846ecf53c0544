"""Ranges and cross-field rules the types cannot express, and the hash of what a job
computes. Everything here runs before any training, MLflow run or TensorFlow import."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from aesweep.errors import ConfigError
from aesweep.ranges import Interval

SEED = Interval(int, 0, 2**32 - 1)  # what NumPy and Keras accept as a seed
# Keys whose range is the config's own. The autoencoder's parameters (bottleneck, widths,
# dropout, learning rate, batch size) are checked by AutoencoderFeatures itself.
RANGES = {
    "seed": SEED,
    "split.random_state": SEED,
    "split.test_size": Interval(float, 0, 1, closed="neither"),
    "split.val_size": Interval(float, 0),
    "trainer.epochs": Interval(int, 1),  # the estimator allows 0: the untrained control
    "evaluation.bootstrap_resamples": Interval(int, 0),
    "evaluation.cv_folds": Interval(int, 2),
    "dataset.random_state": SEED,
}
# Settings that change where or whether a job runs, not what it computes.
NOT_HASHED = ("tracking", "sweep", "paths", "trainer.reuse_checkpoints", "trainer.jit_compile",
              "evaluation.cache_controls")


def config_hash(cfg: DictConfig, ignore: Sequence[str] = ()) -> str:
    """A stable hash of what a job computes: the resolved config without ``NOT_HASHED``
    and the dotted keys in ``ignore``."""
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    if OmegaConf.select(cfg, "architecture.filters") is None:
        # Only conv reads it: other architectures' hashes stay as they were before it.
        container.get("dataset", {}).pop("image_shape", None)
    for key in (*NOT_HASHED, *ignore):
        *parents, leaf = key.split(".")
        node = container
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    digest = hashlib.sha256(json.dumps(container, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def validate_config(cfg: DictConfig) -> None:
    """Check required keys, ranges and cross-field rules.

    Raises:
        ConfigError: naming the first offending key and what is allowed.
    """
    try:  # an interpolation that cannot resolve, e.g. ${oc.env:VAR} with VAR unset
        missing = sorted(OmegaConf.missing_keys(cfg))
        if not missing:
            OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise ConfigError(key, str(exc).splitlines()[0]) from None
    if missing:
        raise ConfigError(missing[0], f"is required; set it on the command line, e.g. "
                                      f"{missing[0]}=VALUE")
    for key, interval in RANGES.items():
        value = OmegaConf.select(cfg, key)
        problem = None if value is None else interval.problem(value)
        if problem:
            raise ConfigError(key, problem)
    test_size, val_size = cfg.split.test_size, cfg.split.val_size
    if test_size + val_size >= 1:
        raise ConfigError("split.val_size",
                          f"split.test_size + split.val_size must be < 1, got "
                          f"{test_size} + {val_size} = {test_size + val_size:g}")
    if not cfg.tracking.experiment.strip():
        raise ConfigError("tracking.experiment", "must be a non-empty name")
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
    if name in ("csv", "parquet"):
        # Not in RANGES: the generated and bundled datasets have no such keys.
        if ds.max_categories < 1:
            raise ConfigError("dataset.max_categories", f"must be >= 1, got {ds.max_categories}")
        if ds.categorical_fill not in ("most_frequent", "constant"):
            raise ConfigError("dataset.categorical_fill", f"must be most_frequent or constant, "
                                                          f"got {ds.categorical_fill!r}")
    if name == "synthetic_regression" and ds.n_targets != 1:
        raise ConfigError("dataset.n_targets",
                          f"only single-target regression is supported, got {ds.n_targets}")
