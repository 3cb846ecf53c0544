"""Where a search's Optuna study lives, its name, its sampler, and who owns its trials.

The study sits beside the MLflow store by default, never inside the same database: Optuna
and MLflow both manage their schemas with alembic, and both keep alembic's version in a
table named ``alembic_version``. In one SQLite file each finds the other's revision there
and refuses to start (checked with Optuna 4.9 and MLflow 3.17: Optuna raises "The runtime
optuna version ... is no longer compatible with the table schema", MLflow "Can't locate
revision identified by 'v3.2.0.a'"). So ``sqlite:///DIR/mlflow.db`` gets
``sqlite:///DIR/studies.db``, and a PostgreSQL store keeps the study in the same database
under its own schema (``optuna``, whose ``alembic_version`` is separate). A tracking server
(``http(s)://``) exposes no database: the study's storage must then be given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
import psutil
from optuna.samplers import BaseSampler

from aesweep.errors import ConfigError

log = logging.getLogger(__name__)

STORAGE_KEY, STORAGE_ENV = "hydra.sweeper.storage", "AESWEEP_STUDY_STORAGE"
POSTGRES_SCHEMA = "optuna"
SAMPLERS = ("tpe", "random", "grid", "nsga2")
OWNER_ATTR = "aesweep.owner"  # a trial's user attr: the process and sweep that run it


@dataclass(frozen=True)
class StudyStorage:
    """An Optuna RDB storage URL, and for PostgreSQL the schema that holds its tables."""

    url: str
    schema: str | None = None

    def open(self) -> optuna.storages.RDBStorage:
        if self.schema is None:
            return optuna.storages.RDBStorage(self.url)
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.url)
        try:
            with engine.begin() as connection:
                connection.execute(sqlalchemy.text(
                    f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        finally:
            engine.dispose()
        # Unqualified table names, alembic's version table included, resolve in the schema.
        options = {"connect_args": {"options": f"-csearch_path={self.schema}"}}
        return optuna.storages.RDBStorage(self.url, engine_kwargs=options)

    def __str__(self) -> str:
        from aesweep.tracking.redaction import redact_uris

        return redact_uris(self.url) + (f" (schema {self.schema})" if self.schema else "")


def study_storage(tracking_uri: str, explicit: str | None,
                  environ: Mapping[str, str] = os.environ) -> StudyStorage:
    """``hydra.sweeper.storage``, else ``$AESWEEP_STUDY_STORAGE``, else derived from the
    MLflow store (see the module's docstring); ConfigError when none applies."""
    from aesweep.tracking.redaction import redact_uris
    from aesweep.tracking.store import sqlite_path, uri_scheme

    explicit = explicit or environ.get(STORAGE_ENV) or None
    scheme = uri_scheme(tracking_uri)
    if explicit:
        if explicit == tracking_uri and scheme == "postgresql":
            return StudyStorage(explicit, POSTGRES_SCHEMA)
        if sqlite_path(explicit) and sqlite_path(explicit) == sqlite_path(tracking_uri):
            raise ConfigError(STORAGE_KEY, "is the MLflow store's own SQLite file; Optuna and "
                              "MLflow would both claim its alembic_version table: use "
                              "another file, e.g. studies.db beside it (the default)")
        if uri_scheme(explicit) not in ("sqlite", "postgresql", "mysql"):
            raise ConfigError(STORAGE_KEY, f"{redact_uris(explicit)!r} is not an Optuna "
                              "storage URL: use sqlite:///PATH/studies.db or "
                              "postgresql://USER@HOST/DB")
        return StudyStorage(explicit)
    db = sqlite_path(tracking_uri)
    if db is not None:
        return StudyStorage(f"sqlite:///{db.parent / 'studies.db'}")
    if scheme == "postgresql":
        return StudyStorage(tracking_uri, POSTGRES_SCHEMA)
    raise ConfigError(STORAGE_KEY, f"is needed with a {scheme or 'non-database'} tracking "
                      f"store (tracking.uri), which keeps no study: set it, or "
                      f"{STORAGE_ENV}, to sqlite:///PATH/studies.db or a PostgreSQL URL")


def default_study_name(command: Mapping[str, Any]) -> str:
    """``aesweep-<hash>`` of what defines the search (its task overrides, space, repeats,
    sampler, fidelity, objectives; not n_trials): the same command continues its study, a
    changed one starts a new study."""
    text = json.dumps(command, sort_keys=True, default=str)
    return "aesweep-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def seed_from(name: str) -> int:
    """A sampler seed for ``seed: null``: stable for a study, different between studies."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def make_sampler(name: str, seed: int, population: int) -> BaseSampler:
    """The sampler ``hydra.sweeper.sampler`` names. ``grid`` is random sampling of enqueued
    grid points (see :mod:`aesweep.search.driver`), so a resumed study carries on where it
    stopped instead of re-drawing its grid."""
    with warnings.catch_warnings():  # experimental-feature notes; not the user's concern
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":  # constant_liar: trials asked in one batch do not all coincide
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, population))
        return optuna.samplers.RandomSampler(seed=seed)


def open_study(storage: StudyStorage, name: str, directions: list[str], sampler: str,
               seed: int, population: int) -> optuna.Study:
    """Create or load the study. Its sampler is seeded by ``seed`` plus the trials it
    already has, so a resumed search draws new configurations, not the first ones again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(storage=storage.open(), study_name=name,
                                    directions=directions, load_if_exists=True)
    except Exception as error:  # unreachable server, bad credentials, not a database
        from aesweep.errors import one_line
        from aesweep.tracking.redaction import redact_uris

        raise ConfigError(STORAGE_KEY, f"cannot open the study in {storage}: "
                          f"{redact_uris(one_line(error))}") from error
    found = [d.name.lower() for d in study.directions]
    if found != directions:
        raise ConfigError("hydra.sweeper.study_name", f"study {name!r} in {storage} optimizes "
                          f"{found}, not {directions}: name another study")
    study.sampler = make_sampler(sampler, seed + len(study.trials), population)
    return study


def owner(sweep_run_id: str | None) -> dict[str, Any]:
    """This process (host, pid, its start time) and its sweep's parent run: stored on each
    trial, so that a later run of the command can tell that the trial was abandoned."""
    process = psutil.Process()
    return {"host": socket.gethostname(), "pid": process.pid,
            "started": repr(process.create_time()), "sweep": sweep_run_id}


def abandoned(attrs: Mapping[str, Any], sweep_ended: Callable[[str], bool]) -> bool:
    """Whether a RUNNING trial's owner is gone: its process died on this host, or (on any
    host) its sweep's parent run has ended (Ctrl-C marks it KILLED)."""
    who = attrs.get(OWNER_ATTR) or {}
    if who.get("sweep") and sweep_ended(who["sweep"]):
        return True
    if who.get("host") != socket.gethostname() or who.get("pid") == os.getpid():
        return False  # another host's process cannot be checked from here
    try:
        return repr(psutil.Process(who["pid"]).create_time()) != who.get("started")
    except (psutil.NoSuchProcess, KeyError, TypeError):
        return True
