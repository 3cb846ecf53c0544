"""The ``paths`` group: where aesweep writes, made absolute and checked before any job."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from omegaconf import DictConfig, open_dict

from aesweep.errors import ConfigError


def pin_root(cfg: DictConfig, launch_dir: str | os.PathLike[str]) -> None:
    """Make a relative ``paths.root`` absolute against the directory aesweep started in,
    so that every path (and the default store URI) means the same in every job, even
    with ``hydra.job.chdir=true``."""
    root = Path(cfg.paths.root).expanduser()
    if not root.is_absolute():
        with open_dict(cfg):
            cfg.paths.root = str(Path(launch_dir, root))


def check_writable(directory: str | os.PathLike[str], key: str) -> None:
    """Raise :class:`ConfigError` naming ``key`` if ``directory`` cannot be created or
    written (its nearest existing ancestor is a file, or not writable)."""
    path = Path(directory).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{key}={directory}", f"{existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={directory}", f"{existing} is not writable")


def check_paths(cfg: DictConfig) -> None:
    """Every directory a job will write to, before it starts."""
    check_writable(cfg.paths.root, "paths.root")
    if cfg.trainer.reuse_checkpoints:
        check_writable(cfg.paths.checkpoints, "paths.checkpoints")
    if cfg.evaluation.cache_controls:
        check_writable(cfg.paths.cache, "paths.cache")


def claim_dir(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory``, or ``<directory>-2``, ``-3``, … if another process has made
    it already (two sweeps started in the same second get a timestamped dir each)."""
    path = Path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        candidate = path if n == 1 else path.with_name(f"{path.name}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")
