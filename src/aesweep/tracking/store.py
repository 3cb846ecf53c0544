"""The tracking store: its URI checked, created safely across processes, and the
experiment resolved once per process that uses it."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from filelock import FileLock, Timeout
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from aesweep.errors import ConfigError
from aesweep.paths import check_writable
from aesweep.tracking.fresh_store import seed_new_store
from aesweep.tracking.redaction import redact_uris

log = logging.getLogger("aesweep")

# The schemes of MLflow's tracking stores (the file store errors since MLflow 3.13).
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
SCHEMES = (*DATABASES, "http", "https", "databricks")
# Where artifacts can live, by URI scheme (a plain path is a local directory).
ARTIFACT_SCHEMES = ("file", "s3", "gs", "wasbs", "abfss", "hdfs", "viewfs", "ftp", "sftp",
                    "dbfs", "mlflow-artifacts", "http", "https", "runs", "models", "uc")
# MLflow's UI opens an experiment on its GenAI view unless it is tagged as model development.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
LOCK_SECONDS = 120  # a store's first creation takes a few seconds; a lock held longer is stuck
PROBE_SECONDS = 10.0


@dataclass
class Store:
    """An open tracking store: one client, and the experiment's id resolved once."""

    uri: str
    client: MlflowClient
    experiment_id: str


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///")).absolute()


def uri_scheme(uri: str) -> str:
    """A tracking URI's store kind: "sqlite", "postgresql" (for postgresql+psycopg2), "http"..."""
    return urlsplit(uri).scheme.split("+")[0].lower()


def check_tracking_uri(uri: str, key: str = "tracking.uri") -> None:
    """Raise :class:`ConfigError` for a URI no MLflow tracking store answers to."""
    where = f"{key}={redact_uris(uri)}"
    scheme = uri_scheme(uri)
    allowed = "sqlite:///PATH, postgresql://, mysql://, mssql://, http(s)://HOST:PORT or databricks"
    if not scheme or scheme == "file":
        raise ConfigError(where, f"not a tracking store URI (MLflow no longer supports file "
                                 f"stores); use one of {allowed}")
    if scheme not in SCHEMES:
        raise ConfigError(where, f"unsupported scheme {scheme!r}; use one of {allowed}")
    if scheme == "sqlite":
        db = sqlite_path(uri)
        if db is None or db.name in ("", ":memory:"):
            raise ConfigError(where, "an SQLite store needs a file: sqlite:///PATH/mlflow.db")
        check_writable(db.parent, key)
        if db.is_dir():
            raise ConfigError(where, f"{db} is a directory; name the database file")
    if scheme in ("http", "https"):
        if not urlsplit(uri).hostname:
            raise ConfigError(where, "no host; use http(s)://HOST:PORT")
        probe_server(uri, where)


def check_artifact_location(location: str | None) -> None:
    if not location:
        return
    scheme = urlsplit(location).scheme.lower()
    if len(scheme) <= 1:  # a path (a one-letter scheme is a Windows drive)
        check_writable(location, "tracking.artifact_location")
    elif scheme not in ARTIFACT_SCHEMES:
        raise ConfigError(f"tracking.artifact_location={redact_uris(location)}",
                          f"unsupported scheme {scheme!r}; use a path or one of "
                          f"{', '.join(s + '://' for s in ARTIFACT_SCHEMES[:8])}, …")


def probe_server(uri: str, where: str, timeout: float = PROBE_SECONDS) -> None:
    """Fail fast on an unreachable server: MLflow's own retries take minutes to give up.
    Any HTTP answer counts as reachable; MLflow reports what is wrong beyond that."""
    import requests

    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=timeout)
    except requests.RequestException as exc:
        raise ConfigError(where, f"cannot reach the tracking server within {timeout:g} s "
                                 f"({type(exc).__name__}); start it or fix the URI") from None


def credentials_error(uri: str, error_code: str) -> ConfigError:
    """What to do when a server with authentication (``--app-name basic-auth``) says no."""
    keys = "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD"
    server = redact_uris(uri)
    if error_code == "PERMISSION_DENIED":
        return ConfigError(keys, f"the tracking server {server} denies this user access to "
                                 f"the experiment; ask its admin for permission")
    missing = [k for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
               if not os.environ.get(k)]
    if missing:
        return ConfigError(keys, f"the tracking server {server} requires a login; set "
                                 f"{' and '.join(missing)} in the environment")
    return ConfigError(keys, f"the tracking server {server} rejected this username and "
                             f"password (401)")


# The stores this process opened, by (pid, URI, experiment, artifact location): a sweep's
# jobs reuse the one its driver (or its first job) opened; see open_store's ``reuse``.
_OPENED: dict[tuple[int, str, str, str | None], Store] = {}


def open_store(tracking: DictConfig, reuse: bool = False) -> Store:
    """Check ``tracking.uri``, and create the store and the experiment if needed.

    A new SQLite store is created under a file lock beside it: two processes creating
    MLflow's tables at once race (one fails with "Online migration expected to match
    one row"). It starts as a copy of a cached empty store (see ``fresh_store``). A
    local store keeps its artifacts in ``mlartifacts/`` beside it.

    With ``reuse`` (a sweep's jobs), a store this process already opened for the same
    URI, experiment and artifact location is returned as it is: its checks, client and
    experiment lookup are done once per process, not once per job.
    """
    key = (os.getpid(), str(tracking.uri), str(tracking.experiment),
           None if tracking.artifact_location is None else str(tracking.artifact_location))
    if reuse and key in _OPENED:
        return _OPENED[key]
    _OPENED[key] = store = _open_store(tracking)
    return store


def _open_store(tracking: DictConfig) -> Store:
    uri, name = str(tracking.uri), str(tracking.experiment)
    check_tracking_uri(uri)
    check_artifact_location(tracking.artifact_location)
    db = sqlite_path(uri)
    artifact_location = tracking.artifact_location or (
        (db.parent / "mlartifacts").as_uri() if db else None)
    lock = FileLock(f"{db}.lock", timeout=LOCK_SECONDS) if db else contextlib.nullcontext()
    where = f"tracking.uri={redact_uris(uri)}"
    try:
        with lock:
            if db is not None:
                seed_new_store(db)
            client = MlflowClient(uri)
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                experiment_id = client.create_experiment(name, artifact_location,
                                                         tags=dict([EXPERIMENT_KIND]))
            elif experiment.lifecycle_stage == "deleted":
                raise ConfigError("tracking.experiment",
                                  f"experiment {name!r} is deleted in {redact_uris(uri)}; "
                                  f"restore it (mlflow experiments restore --experiment-id "
                                  f"{experiment.experiment_id}) or choose another name")
            else:
                experiment_id = experiment.experiment_id
                if EXPERIMENT_KIND[0] not in experiment.tags:  # made by an older aesweep
                    client.set_experiment_tag(experiment_id, *EXPERIMENT_KIND)
    except Timeout:
        raise ConfigError(where, f"{db}.lock is held by another process for over "
                                 f"{LOCK_SECONDS} s; delete it if no aesweep runs") from None
    except MlflowException as exc:
        if exc.error_code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            raise credentials_error(uri, exc.error_code) from None
        reason = redact_uris(str(exc).strip().splitlines()[0][:300])
        raise ConfigError(where, f"cannot use the tracking store: {reason}") from None
    # MLflow prints "View run ... at: <tracking URI>" at every run's end, credentials and
    # all: aesweep prints one redacted link per sweep instead (see browse_hint).
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if os.environ.pop("MLFLOW_RUN_ID", None):
        log.warning("MLFLOW_RUN_ID is set; aesweep ignores it: every job logs a run of its own")
    return Store(uri, client, experiment_id)


@contextlib.contextmanager
def fluent_api(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.log_input``, ``mlflow.pyfunc.log_model``) at
    ``uri`` for a block, then put things back. ``mlflow.set_tracking_uri`` also exports
    ``MLFLOW_TRACKING_URI``, which the next job's ``tracking.uri`` would otherwise read."""
    import mlflow

    exported = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(exported)  # type: ignore[arg-type]  # None: unset
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def browse_hint(store: Store, run_id: str) -> str:
    """Where to see a run: its page on a tracking server, or how to open the UI on a
    local store."""
    from aesweep.tracking.view import runs_url, ui_base

    url = runs_url(ui_base(store.uri), store.experiment_id, run_id)
    if urlsplit(store.uri).scheme in ("http", "https"):
        return f"runs: {url}"
    uri = redact_uris(store.uri)
    return (f"runs: {url} (serve them on port 5000: make ui, or mlflow ui "
            f"--backend-store-uri {uri})")
