"""Shared helpers: composing configs in-process and running the real CLI in a subprocess.

Imported by the test modules as ``helpers`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from aesweep import config

# Tiny data for every job that trains: a few hundred rows, 20 features.
TINY = (
    "dataset.n_samples=300",
    "dataset.n_features=20",
    "dataset.n_informative=5",
    "dataset.n_redundant=5",
)
# In-process jobs write checkpoints and cached controls under paths.root: keep them out of
# the checkout, in one directory per test process.
SCRATCH = tempfile.mkdtemp(prefix="aesweep-tests-")
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)

# Environment variables that would change what the CLI does or where it logs.
_SCRUBBED_ENV = ("HYDRA_FULL_ERROR", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME",
                 "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID")


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The app's composed config (without the ``hydra`` node), as the CLI would build it,
    writing under a scratch ``paths.root`` unless the overrides say otherwise."""
    return config.compose_config([f"paths.root={SCRATCH}", *overrides])


def console_script(name: str) -> str:
    """An installed console script next to this interpreter: the program users run."""
    script = Path(sys.executable).with_name(name)
    assert script.is_file(), f"{script} is not installed (pip install -e .)"
    return str(script)


def aesweep_command() -> list[str]:
    return [console_script("aesweep")]


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what would change where the CLI logs."""
    environ = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    return {**environ, **(env or {})}


def run_cli(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 600, program: str = "aesweep",
            ) -> subprocess.CompletedProcess[str]:
    """Run ``aesweep ARGS`` (or another console script) in ``cwd``, capture its output as
    text, and fail on any Hydra ``UserWarning``: a callback that raised, say."""
    result = subprocess.run([console_script(program), *args], cwd=cwd, env=clean_env(env),
                            capture_output=True, text=True, timeout=timeout, check=False)
    assert "UserWarning" not in result.stderr, describe(result)
    return result


def store_args(root: Path) -> list[str]:
    """Overrides that keep the MLflow store and Hydra's directories under ``root``."""
    return [f"paths.root={root}"]


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


# --- mixed tables (issue 13): numbers, categories and gaps -------------------------------


def mixed_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Numbers with gaps, a text column with gaps, a bool column and a binary target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.normal(40, 10, n).round(1),
        "income": rng.normal(5e4, 1e4, n).round(0),
        "color": rng.choice(["red", "green", "blue"], n).astype(object),
        "member": rng.choice([True, False], n),
        "label": rng.choice(["yes", "no"], n),
    })
    frame.loc[[3, 10, 50], "age"] = np.nan
    frame.loc[[5, 60], "color"] = None
    return frame


def write(frame: pd.DataFrame, directory: Path, kind: str = "csv") -> Path:
    path = directory / f"table.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def file_overrides(path: Path, *extra: str) -> list[str]:
    kind = path.suffix.lstrip(".")
    return [f"dataset={kind}", f"dataset.path={path}", "dataset.target=label", *extra]
