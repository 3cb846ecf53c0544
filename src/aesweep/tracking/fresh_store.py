"""New SQLite stores as copies of one that MLflow created: its migrations run once per
machine and MLflow version, not once per store.

A new MLflow SQLite store runs all of MLflow's schema migrations (69 alembic scripts in
MLflow 3.17: about 1.1 s here with warm caches, up to 2.8 s cold). The first store made
with a given MLflow version is also copied, as MLflow left it, to aesweep's cache
directory; every later new store starts as a copy of that file (SQLite's backup API,
milliseconds), then opens as an existing store does, MLflow checking its schema revision.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path

from filelock import FileLock

log = logging.getLogger("aesweep")
# The one row MLflow writes that depends on where a store was made: its Default
# experiment's artifact location (MLflow puts it under the creating process's cwd).
_DEFAULT_EXPERIMENT = "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0"


def cache_dir() -> Path:
    """``$AESWEEP_CACHE_DIR``, else ``$XDG_CACHE_HOME/aesweep``, else ``~/.cache/aesweep``."""
    if explicit := os.environ.get("AESWEEP_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aesweep"


def template_path() -> Path:
    from mlflow.version import VERSION

    return cache_dir() / f"mlflow-{VERSION}-empty.db"


def _copy(source: Path, target: Path) -> None:
    # closing(): a sqlite3 connection's own context manager commits but never closes.
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _default_location(db: Path) -> str:
    return (db.parent / "mlartifacts" / "0").as_uri()


def build_template() -> Path:
    """The cached empty store of this MLflow version, created by MLflow if missing."""
    template = template_path()
    template.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{template}.lock", timeout=300):
        if not template.exists():
            from mlflow.tracking import MlflowClient

            building = template.with_suffix(f".{os.getpid()}.tmp")
            building.unlink(missing_ok=True)
            MlflowClient(f"sqlite:///{building}").search_experiments(max_results=1)
            os.replace(building, template)
    return template


def seed_new_store(db: Path) -> bool:
    """Make the new store ``db`` a copy of the cached empty one; False (and nothing
    written) where that cannot be done, and MLflow creates the store as usual."""
    if db.exists():
        return False
    try:
        template = build_template()
        _copy(template, db)
        with closing(sqlite3.connect(db)) as connection, connection:
            connection.execute(_DEFAULT_EXPERIMENT, (_default_location(db),))
    except Exception as error:  # a read-only home, a full disk: MLflow creates it instead
        log.debug("new store %s not seeded from the cache: %s", db, error)
        db.unlink(missing_ok=True)
        return False
    return True
