"""MLflow at the edge: the store, one run per job, and what each run logs."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from aesweep.errors import ConfigError
from aesweep.job import JobResult, PreparedJob
from aesweep.plots import loss_curve
from aesweep.resume import Previous, fail_stale_sweeps, find_previous, owner_tags

log = logging.getLogger("aesweep")

# Keys not logged as params: a tracking URI can carry credentials; the parent is a tag.
PRIVATE_KEYS = frozenset({"tracking.uri", "tracking.parent_run_id"})
ROLE_TAG = "aesweep.role"  # "sweep" on a multirun's parent run
SWEEP_ID_TAG = "aesweep.sweep_id"  # the parent's run id, on the parent and every child
PARENT_TAG = "mlflow.parentRunId"  # what the MLflow UI nests runs by
ENV_MASK = "<from environment>"  # logged instead of any value read from the environment
# On a parent: job N of this sweep was skipped, its config already FINISHED as this run.
REUSED_TAG_PREFIX = "aesweep.reused."


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")).resolve() if uri.startswith("sqlite:///") else None


def ensure_experiment(tracking: DictConfig) -> str:
    """Point MLflow at ``tracking.uri`` and create the experiment if needed; return its id.

    Call it once in the driver before jobs start: two processes creating the tables of a
    brand-new SQLite file at once race. A local SQLite store gets its artifacts beside it.
    """
    uri, artifact_location = tracking.uri, tracking.artifact_location
    db = _sqlite_path(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError("tracking.uri",
                              f"cannot create {db.parent}: {exc.strerror}") from None
        if not os.access(db.parent, os.W_OK):
            raise ConfigError("tracking.uri", f"{db.parent} is not writable")
        artifact_location = artifact_location or (db.parent / "mlartifacts").as_uri()
    if uri.startswith(("http://", "https://")):
        probe_server(uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    try:
        experiment = client.get_experiment_by_name(tracking.experiment)
        if experiment is not None:
            return experiment.experiment_id
        return client.create_experiment(tracking.experiment, artifact_location=artifact_location)
    except MlflowException as exc:
        reason = str(exc).strip().splitlines()[0][:300]
        raise ConfigError(f"tracking.uri={redact(uri)}",
                          f"cannot use the tracking store: {reason}") from None


def probe_server(uri: str, timeout: float = 10.0) -> None:
    """Fail fast on an unreachable server: MLflow's own retries take minutes to give up.
    Any HTTP answer counts as reachable; MLflow reports what is wrong beyond that."""
    import requests

    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=timeout)
    except requests.RequestException as exc:
        raise ConfigError(f"tracking.uri={redact(uri)}",
                          f"cannot reach the tracking server within {timeout:g} s "
                          f"({type(exc).__name__}); start it or fix the URI") from None


def redact(uri: str) -> str:
    """The URI without any password in it, fit for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def loggable_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without private keys, and with every value that comes from an
    environment variable (``${oc.env:...}``, directly or through other keys) masked."""
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert isinstance(container, dict)
    for key in PRIVATE_KEYS:
        group, leaf = key.split(".")
        container.get(group, {}).pop(leaf, None)
    for key in env_keys(cfg):
        *path, leaf = key.split(".")
        node: Any = container
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and leaf in node:
            node[leaf] = ENV_MASK
    return container


def env_keys(cfg: DictConfig) -> set[str]:
    """Dotted keys whose value is read from the environment, directly or by interpolation."""
    raw = flatten(OmegaConf.to_container(cfg, resolve=False))
    texts = {key: value for key, value in raw.items() if isinstance(value, str)}
    private = {key for key, text in texts.items() if "oc.env:" in text or "${env:" in text}
    grew = True
    while grew:  # keys that interpolate a private key are private too
        extra = {key for key, text in texts.items()
                 if key not in private and any("${" + p in text for p in private)}
        private |= extra
        grew = bool(extra)
    return private


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def run_name(overrides: Sequence[str], only: Sequence[str] | None = None) -> str:
    """A short name from the overrides: ``bottleneck=8,epochs=5,seed=1``.

    ``only`` keeps just those keys (a sweep's children are named by the swept keys).
    """
    parts = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key.startswith(("tracking.", "hydra.")) or (only is not None and key not in only):
            continue
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}" if value else key)
    return ",".join(parts) or "defaults"


def sweep_grid(tracking_uri: str, parent_run_id: str) -> dict[str, list[str]]:
    """The values of every key a sweep varies, read from its parent's ``sweep.grid.*``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    params = MlflowClient(tracking_uri).get_run(parent_run_id).data.params
    grid = {}
    for param, values in params.items():
        if param.startswith("sweep.grid."):
            key = param.removeprefix("sweep.grid.")
            override = parser.parse_override(f"{key}={values}")
            grid[key] = (list(override.sweep_string_iterator()) if override.is_sweep_override()
                         else [values])
    return grid


def checkpoint_dir(tracking: DictConfig, configured: str | None) -> str:
    """``trainer.checkpoint_dir``, else ``checkpoints/`` beside a local SQLite store, else
    ``outputs/checkpoints`` under the working directory."""
    if configured:
        return configured
    db = _sqlite_path(tracking.uri)
    return str((db.parent if db else Path.cwd() / "outputs") / "checkpoints")


@contextmanager
def job_run(cfg: DictConfig, name: str, tags: dict[str, str]) -> Iterator[str]:
    """An MLflow run around one job; yields its id. It ends FAILED if the body raises.

    In a multirun, ``tracking.parent_run_id`` (set by the driver) makes it a child run.
    """
    experiment_id = ensure_experiment(cfg.tracking)
    tags = {**_parent_tags(cfg), **tags}
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        try:
            yield run.info.run_id
        except KeyboardInterrupt:
            mlflow.set_tag("error", "interrupted (Ctrl-C or SIGTERM)")
            mlflow.end_run("KILLED")
            raise
        except Exception as exc:
            mlflow.set_tag("error", error_text(exc))
            raise


def error_text(exc: BaseException) -> str:
    """``Type: message``, short enough for an MLflow tag."""
    return f"{type(exc).__name__}: {exc}"[:4000]


def record_failure(cfg: DictConfig, name: str, tags: dict[str, str], error: Exception) -> str:
    """A FAILED run for a job that could not start (bad input in one job of a sweep)."""
    experiment_id = ensure_experiment(cfg.tracking)
    client = MlflowClient(cfg.tracking.uri)
    tags = {**_parent_tags(cfg), **tags, "error": error_text(error)}
    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    client.set_terminated(run_id, "FAILED")
    return run_id


def _parent_tags(cfg: DictConfig) -> dict[str, str]:
    parent = cfg.tracking.parent_run_id
    return {PARENT_TAG: parent, SWEEP_ID_TAG: parent} if parent else {}


def previous_runs(cfg: DictConfig, config_hash: str) -> Previous:
    """Earlier runs of this config in the experiment (stale RUNNING ones get marked FAILED)."""
    experiment_id = ensure_experiment(cfg.tracking)
    return find_previous(MlflowClient(cfg.tracking.uri), experiment_id, config_hash)


def reuse_run(cfg: DictConfig, run_id: str, job_num: int, metric: str) -> float | None:
    """Record on the sweep's parent that job ``job_num`` reuses ``run_id``; return that
    run's encoded main metric."""
    client = MlflowClient(cfg.tracking.uri)
    if cfg.tracking.parent_run_id:
        client.set_tag(cfg.tracking.parent_run_id, f"{REUSED_TAG_PREFIX}{job_num}", run_id)
    return client.get_run(run_id).data.metrics.get(f"encoded_{metric}")


def start_sweep_run(tracking: DictConfig, name: str, params: dict[str, str]) -> str:
    """Create a multirun's parent run (without making it the active run); return its id."""
    experiment_id = ensure_experiment(tracking)
    client = MlflowClient(tracking.uri)
    for run_id in fail_stale_sweeps(client, experiment_id):
        log.warning("sweep run %s was left RUNNING by a driver that died; marked FAILED", run_id)
    run = client.create_run(experiment_id, run_name=name,
                            tags={ROLE_TAG: "sweep", **owner_tags()})
    run_id = run.info.run_id
    client.set_tag(run_id, SWEEP_ID_TAG, run_id)
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    return run_id


def failed_children(tracking_uri: str, parent_run_id: str) -> list[tuple[str, str]]:
    """(run name, error) of every child of a sweep that did not finish, whichever process
    or machine ran it."""
    client = MlflowClient(tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs([experiment_id], f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
                              max_results=50_000)
    return [(run.info.run_name, run.data.tags.get("error", run.info.status))
            for run in runs if run.info.status != "FINISHED"]


def end_run(tracking_uri: str, run_id: str, status: str) -> None:
    MlflowClient(tracking_uri).set_terminated(run_id, status)


def log_job(run_id: str, job: PreparedJob, result: JobResult, overrides: Sequence[str]) -> None:
    """Log params, per-epoch and final metrics, artifacts, dataset and encoder."""
    cfg = job.cfg
    client = MlflowClient()
    config = loggable_config(cfg)
    mlflow.log_params(flatten(config))

    now = int(time.time() * 1000)
    curves = {"train_loss": result.history["loss"], "val_loss": result.history.get("val_loss")}
    metrics = [Metric(key, value, now, epoch)
               for key, values in curves.items() if values
               for epoch, value in enumerate(values, start=1)]
    metrics += [Metric(key, value, now, 0) for key, value in result.metrics.items()]
    client.log_batch(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in result.tags.items()])

    mlflow.log_text(OmegaConf.to_yaml(config), "config/config.yaml")
    public = [o for o in overrides if not o.lstrip("+~").startswith("tracking.uri=")]
    mlflow.log_text("\n".join(public) + "\n", "config/overrides.txt")
    mlflow.log_figure(loss_curve(result.history, title=mlflow.active_run().info.run_name),
                      "plots/loss_curve.png")
    _log_dataset(job)
    if cfg.tracking.log_model:
        _log_encoder(job, result)


def _log_dataset(job: PreparedJob) -> None:
    s, name = job.splits, job.dataset.name
    # A CSV has a real location; generated and bundled sets are described by the params.
    source = job.dataset.source if job.cfg.dataset.name == "csv" else None
    parts = {"training": (s.X_train, s.y_train), "validation": (s.X_val, s.y_val),
             "test": (s.X_test, s.y_test)}
    for context, (X, y) in parts.items():
        if X is not None:
            dataset = mlflow.data.from_numpy(X, targets=y, name=name, source=source)
            mlflow.log_input(dataset, context=context)


def _installed(*names: str) -> list[str]:
    found = []
    for name in names:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found


def _log_encoder(job: PreparedJob, result: JobResult) -> None:
    import mlflow.keras
    from mlflow.models import infer_signature

    # The encoder takes scaled features: the rows after the pipeline's scaler.
    scaled = result.pipelines["encoded"][:1].transform(job.splits.X_test[:5])
    signature = infer_signature(scaled, result.encoder.transform(scaled))
    mlflow.keras.log_model(
        result.encoder.encoder_, name="encoder", signature=signature,
        # Explicit requirements: inferring them costs ~10 s per call.
        pip_requirements=_installed("keras", "tensorflow", "tensorflow-cpu", "numpy"),
        metadata={"input": f"features after preprocessing.scaler="
                           f"{job.cfg.preprocessing.scaler.value} fit on training rows"})
