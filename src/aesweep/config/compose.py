"""Where the app's configs live, and the config composed outside the app (for
``aesweep-report``, which must agree with ``aesweep`` on where the store is)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from aesweep.config.schema import register_configs


def config_dir() -> str:
    """``conf/`` inside an installed wheel, else the source checkout's ``conf/``."""
    package = Path(__file__).parents[1]
    packaged = package / "conf"
    return str(packaged if packaged.is_dir() else package.parents[1] / "conf")


def share_config_store() -> None:
    """Let Hydra's copies of its config repository share the one ``ConfigStore``.

    Hydra 1.3 deep-copies the repository, and with it the whole ConfigStore (every schema,
    launcher and sweeper config: ~15 ms here), each time it composes a config or lists a
    group's options: 90 times for ``--help``, which lists every group, and once per job of
    a multirun. Hydra's main branch reads the live store instead of copying it
    (https://github.com/hydra-ecosystem/hydra/pull/2928); this does the same for 1.3.
    Nothing changes the store through a copy. A snapshot of Hydra's singletons
    (``Singleton.get_state``) now holds the live store: a launcher pickles it to its
    workers (a copy anyway), and a ``with initialize(...)`` block no longer drops, on exit,
    the configs stored inside it.
    """
    ConfigStore.__deepcopy__ = _same_store  # type: ignore[attr-defined]


def _same_store(store: ConfigStore, memo: dict[int, Any]) -> ConfigStore:
    return store


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``aesweep OVERRIDES`` would run, without the ``hydra`` node."""
    register_configs()
    share_config_store()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))
