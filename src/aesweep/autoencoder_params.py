"""``AutoencoderFeatures``' parameters as data: the choices on offer, what each parameter
allows, and the config key that sets each.

Light on purpose (no scikit-learn, no TensorFlow): the ``aesweep`` command composes its
config and rejects a bad value (``architecture.bottleneck=0``) with these tables before it
imports either. :class:`aesweep.features.AutoencoderFeatures` checks itself with the same
tables, by inheriting :class:`AutoencoderParams`.
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Any, ClassVar

from omegaconf import DictConfig, OmegaConf

from aesweep.conv import image_shape_problem
from aesweep.errors import ConfigError
from aesweep.params import CheckedParams
from aesweep.ranges import Interval, plain

# The activations and optimizers on offer: the project's list of activations (Keras takes
# each by name) and the keys of ``aesweep.model.OPTIMIZERS`` (not imported here: that
# would import TensorFlow).
ACTIVATIONS = ("leaky_relu", "relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid")
OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")
# The kinds of input noise of the denoising architecture (see aesweep.noise).
NOISE_KINDS = ("gaussian", "masking", "swap")
# Parameters added after dense, and their defaults: left out of the checkpoint key at these
# values, so that dense checkpoints saved before them still match.
NEWER_DEFAULTS = {"noise_kind": None, "noise_level": 0.0, "l1": 0.0, "variational": False,
                  "beta": 1.0, "image_shape": None, "filters": (16, 32)}

# The config key that sets each of AutoencoderFeatures' parameters.
AUTOENCODER_KEYS = {
    "bottleneck": "architecture.bottleneck",
    "hidden_units": "architecture.hidden_units",
    "activation": "architecture.activation",
    "batch_norm": "architecture.batch_norm",
    "dropout": "architecture.dropout",
    "image_shape": "dataset.image_shape",
    "filters": "architecture.filters",
    "noise_kind": "architecture.noise.kind",
    "noise_level": "architecture.noise.level",
    "l1": "architecture.l1",
    "beta": "architecture.beta",
    "optimizer": "optimizer.name",
    "learning_rate": "optimizer.learning_rate",
    "epochs": "trainer.epochs",
    "batch_size": "trainer.batch_size",
    "random_state": "seed",
    "jit_compile": "trainer.jit_compile",
}


class AutoencoderParams(CheckedParams):
    """What each of ``AutoencoderFeatures``' parameters allows (see
    :class:`aesweep.params.CheckedParams`), and the rules that join them."""

    # Each numeric range is written here once. hidden_units and checkpoint_epochs: the
    # range of each entry.
    _RANGES: ClassVar[dict[str, Interval]] = {
        "bottleneck": Interval(int, 1),
        "hidden_units": Interval(int, 1),
        "dropout": Interval(float, 0, 1, closed="left"),
        "noise_level": Interval(float, 0),
        "l1": Interval(float, 0),
        "beta": Interval(float, 0),
        "learning_rate": Interval(float, 0, closed="neither"),
        "epochs": Interval(int, 0),
        "batch_size": Interval(int, 1),
        "random_state": Interval(int, 0, 2**32 - 1),
        "verbose": Interval(int, 0),
        "checkpoint_epochs": Interval(int, 1),
        "categorical_blocks": Interval(int, 1),
        "filters": Interval(int, 1),
    }
    _OPTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "activation": ACTIVATIONS, "optimizer": OPTIMIZER_NAMES, "noise_kind": NOISE_KINDS}
    # Other types: (the types, how a message names them).
    _TYPES: ClassVar[dict[str, tuple[tuple[type, ...], str]]] = {
        "batch_norm": ((bool,), "a bool"), "variational": ((bool,), "a bool"),
        "jit_compile": ((bool,), "a bool"),
        "checkpoint_dir": ((str, os.PathLike), "a str or os.PathLike")}
    # Sequences, and what a message calls their entries.
    _SEQUENCES: ClassVar[dict[str, str]] = {
        "hidden_units": "widths", "checkpoint_epochs": "epoch counts",
        "categorical_blocks": "widths", "filters": "filter counts"}
    _NONE_ALLOWED: ClassVar[frozenset[str]] = frozenset(
        {"hidden_units", "random_state", "jit_compile", "checkpoint_dir", "noise_kind"})

    noise_kind: str | None
    noise_level: float
    image_shape: Any
    variational: bool

    def _joint_problem(self) -> tuple[str, str] | None:
        level = plain(self.noise_level)
        if self.noise_kind in ("masking", "swap") and level > 1:
            return "noise_level", f"must be in [0, 1] for {self.noise_kind} noise, got {level}"
        if problem := image_shape_problem(self.image_shape):
            return "image_shape", problem
        if self.variational and self.image_shape is not None:
            return "variational", "must be False with an image_shape (conv), got True"
        return None


class _Given(AutoencoderParams):
    """Parameters as given (the others at their defaults), checked without building the
    estimator."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._given = dict(params)
        vars(self).update({name: params.get(name, default)
                           for name, default in NEWER_DEFAULTS.items()})

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return dict(self._given)


def autoencoder_params(cfg: DictConfig) -> dict[str, Any]:
    """``AutoencoderFeatures``' parameters from the ``architecture``, ``optimizer`` and
    ``trainer`` groups (see :func:`aesweep.pipelines.autoencoder_from_config`)."""
    params = {param: config_value(OmegaConf.select(cfg, key))
              for param, key in AUTOENCODER_KEYS.items()
              if OmegaConf.select(cfg, key, default=_ABSENT) is not _ABSENT}
    params["variational"] = "beta" in params
    if "filters" not in params:
        params.pop("image_shape", None)
    if cfg.trainer.reuse_checkpoints:
        params |= {"checkpoint_dir": cfg.paths.checkpoints,
                   "checkpoint_epochs": tuple(cfg.sweep.epochs)}
    return params


def check_autoencoder(cfg: DictConfig) -> None:
    """The autoencoder's parameters, checked by the estimator's own ranges; the error
    names the config key that set the bad value. The image shape is checked against the
    data, by :func:`aesweep.pipelines.check_image_shape`."""
    invalid = _Given(autoencoder_params(cfg) | {"image_shape": None}).find_invalid_param()
    if invalid is not None:
        param, problem = invalid
        raise ConfigError(AUTOENCODER_KEYS.get(param, param), problem)


_ABSENT = object()


def config_value(value: Any) -> Any:
    """A config node's value as plain Python: containers as lists and dicts, enums as
    their values."""
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, enum_to_str=True)
    return value.value if isinstance(value, Enum) else value
