"""Shared helpers: composing configs in-process and running the real CLI in a subprocess.

Imported by the test modules as ``helpers`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import aesweep.app  # registers the structured configs with Hydra's ConfigStore

# Tiny data for every job that trains: a few hundred rows, 20 features.
TINY = (
    "dataset.n_samples=300",
    "dataset.n_features=20",
    "dataset.n_informative=5",
    "dataset.n_redundant=5",
)
# The CLI's tracking default interpolates ${hydra:runtime.cwd}, which compose() cannot
# resolve; in-process tests never log, so point it anywhere harmless.
UNUSED_URI = "tracking.uri=sqlite:////nonexistent/aesweep-tests-never-written.db"

# Environment variables that would change what the CLI does or where it logs.
_SCRUBBED_ENV = ("HYDRA_FULL_ERROR", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME",
                 "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID")


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The app's composed config (without the ``hydra`` node), as the CLI would build it."""
    overrides = [UNUSED_URI, *overrides]
    with initialize_config_dir(config_dir=aesweep.app.config_dir(), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides),
                       return_hydra_config=False)


def aesweep_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m aesweep.app``."""
    script = shutil.which("aesweep", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "aesweep.app"]


def run_cli(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``aesweep ARGS`` in ``cwd`` and capture its output as text."""
    environ = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    environ.update(env or {})
    return subprocess.run([*aesweep_command(), *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout, check=False)


def store_args(root: Path) -> list[str]:
    """Overrides that keep the MLflow store and Hydra's directories under ``root``."""
    return [f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
            f"hydra.run.dir={root / 'run'}",
            f"hydra.sweep.dir={root / 'sweep'}"]


def store_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def run_statuses(db: Path) -> list[str]:
    """Status of every run in an MLflow SQLite store, read without importing MLflow."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if "runs" not in tables:
            return []
        return [row[0] for row in connection.execute("SELECT status FROM runs")]


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """Exit code and the tail of both streams, for assertion messages."""
    return (f"exit code {result.returncode}\n--- stdout (tail)\n{result.stdout[-3000:]}"
            f"\n--- stderr (tail)\n{result.stderr[-3000:]}")
