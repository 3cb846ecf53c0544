"""Where the app's configs live, and the config composed outside the app (for
``aesweep-report``, which must agree with ``aesweep`` on where the store is)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from aesweep.config.schema import register_configs


def config_dir() -> str:
    """``conf/`` inside an installed wheel, else the source checkout's ``conf/``."""
    package = Path(__file__).parents[1]
    packaged = package / "conf"
    return str(packaged if packaged.is_dir() else package.parents[1] / "conf")


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``aesweep OVERRIDES`` would run, without the ``hydra`` node."""
    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))
