"""MLflow runs: one per job, one parent per sweep, and what each logs.

Every text that reaches the store (run names, params, tags, text artifacts) passes
through the job's :class:`~aesweep.tracking.redaction.Redactor`.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from mlflow.entities import Metric, Param, Run, RunTag
from omegaconf import DictConfig, OmegaConf

from aesweep.job import JobResult, PreparedJob
from aesweep.names import (
    ERROR_TAG,
    JOB_NUM_TAG,
    OVERHEAD_SECONDS,
    PARENT_TAG,
    REUSED_TAG_PREFIX,
    ROLE_TAG,
    SWEEP_ID_TAG,
    SWEEP_ROLE,
    TRAIN_SECONDS,
)
from aesweep.plots import loss_curve
from aesweep.tracking.redaction import Redactor
from aesweep.tracking.resume import fail_stale_sweeps, owner_tags
from aesweep.tracking.store import Store, fluent_api

log = logging.getLogger("aesweep")

ERROR_CHARS = 4000  # MLflow tags hold at most 8000 characters


def error_text(error: BaseException) -> str:
    """``Type: message``, short enough for an MLflow tag."""
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]


def parent_tags(parent_run_id: str | None) -> dict[str, str]:
    """What nests a job's run under its sweep's parent run in the MLflow UI."""
    return {PARENT_TAG: parent_run_id, SWEEP_ID_TAG: parent_run_id} if parent_run_id else {}


def create_run(store: Store, redactor: Redactor, name: str, tags: dict[str, str],
               cfg: DictConfig | None = None) -> str:
    """A RUNNING run; with ``cfg``, its params from the start, so that a run which fails
    still shows what it ran."""
    run = store.client.create_run(store.experiment_id, run_name=redactor.text(name),
                                  tags=redactor.texts(tags))
    if cfg is not None:
        store.client.log_batch(run.info.run_id, params=[
            Param(k, v) for k, v in redactor.params(cfg).items()])
    return run.info.run_id


def end_run(store: Store, run_id: str, status: str, error: BaseException | str | None = None,
            redactor: Redactor | None = None) -> None:
    """End a run with ``status``; ``error`` becomes its ``error`` tag."""
    if error is not None:
        text = error if isinstance(error, str) else error_text(error)
        store.client.set_tag(run_id, ERROR_TAG, (redactor or Redactor()).text(text))
    store.client.set_terminated(run_id, status)


@contextmanager
def job_run(store: Store, redactor: Redactor, name: str, tags: dict[str, str],
            cfg: DictConfig) -> Iterator[str]:
    """A job's run, with ``cfg`` as its params; yields its id. It ends FINISHED, FAILED
    with an ``error`` tag if the body raises, or KILLED on Ctrl-C or SIGTERM."""
    run_id = create_run(store, redactor, name, tags, cfg)
    try:
        yield run_id
    except KeyboardInterrupt:
        end_run(store, run_id, "KILLED", "interrupted (Ctrl-C or SIGTERM)")
        raise
    except BaseException as error:
        end_run(store, run_id, "FAILED", error, redactor)
        raise
    end_run(store, run_id, "FINISHED")


def record_failure(store: Store, redactor: Redactor, name: str, tags: dict[str, str],
                   error: BaseException, cfg: DictConfig) -> str:
    """A FAILED run for a job that could not start (bad input in one job of a sweep)."""
    try:
        run_id = create_run(store, redactor, name, tags, cfg)
    except Exception:  # a config that cannot be resolved or logged: the error says why
        run_id = create_run(store, redactor, name, tags)
    end_run(store, run_id, "FAILED", error, redactor)
    return run_id


def start_sweep_run(store: Store, redactor: Redactor, name: str,
                    params: dict[str, str]) -> str:
    """Create a multirun's parent run; return its id. Parents left RUNNING by a driver
    that died (``kill -9``, a crash) are marked FAILED first."""
    for stale in fail_stale_sweeps(store.client, store.experiment_id):
        log.warning("sweep run %s was left RUNNING by a driver that died; marked FAILED", stale)
    run_id = create_run(store, redactor, name, {ROLE_TAG: SWEEP_ROLE, **owner_tags()})
    store.client.log_batch(run_id, params=[Param(k, v) for k, v in redactor.texts(params).items()],
                           tags=[RunTag(SWEEP_ID_TAG, run_id)])
    return run_id


def reuse_run(store: Store, parent_run_id: str | None, job_num: int,
              run_id: str) -> dict[str, float]:
    """Record on the sweep's parent that job ``job_num`` reuses ``run_id``; return that
    run's metrics."""
    if parent_run_id:
        store.client.set_tag(parent_run_id, f"{REUSED_TAG_PREFIX}{job_num}", run_id)
    return dict(store.client.get_run(run_id).data.metrics)


def children(store: Store, parent_run_id: str) -> list[Run]:
    """Every run of a sweep, whichever process or machine ran it."""
    return store.client.search_runs([store.experiment_id],
                                    f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
                                    max_results=50_000)


LOST = "its job ended without closing the run: its process, worker or node died"


def close_orphans(store: Store, redactor: Redactor, parent_run_id: str, status: str,
                  lost: Mapping[int, tuple[str, str]] = {}) -> int:
    """Once every job of a sweep has returned, end its children still RUNNING with
    ``status``: their process died (a lost Ray node, ``kill -9``) before closing them.
    ``lost`` maps the number of a job that its launcher reported dead to (its run name,
    why); such a job that never created a run gets a FAILED one, so that the sweep's
    failures and a re-run see it. Returns how many runs were closed or created."""
    runs = children(store, parent_run_id)
    seen = {run.data.tags.get(JOB_NUM_TAG) for run in runs}
    closed = 0
    for run in runs:
        if run.info.status == "RUNNING":
            num = run.data.tags.get(JOB_NUM_TAG, "")
            why = lost[int(num)][1] if num.isdigit() and int(num) in lost else LOST
            end_run(store, run.info.run_id, status, why, redactor)
            closed += 1
    for num, (name, why) in lost.items():
        if str(num) not in seen:
            tags = {**parent_tags(parent_run_id), JOB_NUM_TAG: str(num)}
            end_run(store, create_run(store, redactor, name, tags), "FAILED", why, redactor)
            closed += 1
    return closed


def failed_children(store: Store, parent_run_id: str) -> list[tuple[str, str]]:
    """(run name, error) of every child of a sweep that did not finish, whichever process
    or machine ran it."""
    runs = children(store, parent_run_id)
    return [(run.info.run_name, run.data.tags.get(ERROR_TAG) or run.info.status)
            for run in runs if run.info.status != "FINISHED"]


def log_job(store: Store, redactor: Redactor, run_id: str, name: str, job: PreparedJob,
            result: JobResult, overrides: Sequence[str], started: float | None = None) -> None:
    """Log final metrics, tags, artifacts, dataset and encoder. The per-epoch losses are
    not logged here: :class:`~aesweep.tracking.live.LiveMetrics` sent them while training.
    With ``started`` (the job's ``perf_counter`` at its start), log its overhead last and
    add it to ``result.metrics``."""
    from aesweep.tracking.overrides import public

    client, cfg = store.client, job.cfg
    now = int(time.time() * 1000)
    metrics = [Metric(key, value, now, 0) for key, value in result.metrics.items()]
    client.log_batch(run_id, metrics=metrics,
                     tags=[RunTag(k, v) for k, v in redactor.texts(result.tags).items()])
    client.log_text(run_id, OmegaConf.to_yaml(redactor.config(cfg)), "config/config.yaml")
    client.log_text(run_id, "\n".join(public(overrides, redactor)) + "\n",
                    "config/overrides.txt")
    client.log_figure(run_id, loss_curve(result.history, title=redactor.text(name)),
                      "plots/loss_curve.png")
    with fluent_api(store.uri):
        _log_dataset_and_encoder(run_id, job, result, redactor)
    if started is not None:
        overhead = (time.perf_counter() - started - result.metrics[TRAIN_SECONDS]
                    - result.downstream_seconds)
        client.log_metric(run_id, OVERHEAD_SECONDS, overhead)
        result.metrics[OVERHEAD_SECONDS] = overhead


def _log_dataset_and_encoder(run_id: str, job: PreparedJob, result: JobResult,
                             redactor: Redactor) -> None:
    """MLflow's dataset inputs and model logging are fluent: they log to the active run,
    which is ``run_id`` by its explicit id (so ``MLFLOW_RUN_ID`` cannot redirect them)."""
    import mlflow

    s, name = job.splits, job.dataset.name
    # A CSV has a real location; generated and bundled sets are described by the params.
    source = (redactor.text(job.dataset.source) if job.cfg.dataset.name in ("csv", "parquet")
              else None)
    with mlflow.start_run(run_id=run_id):
        for context, (X, y) in {"training": (s.X_train, s.y_train),
                                "validation": (s.X_val, s.y_val),
                                "test": (s.X_test, s.y_test)}.items():
            if X is None:
                continue
            with warnings.catch_warnings():
                # MLflow registers its local-file source class twice, then warns that a
                # path "can be interpreted in multiple ways": both are the same class.
                warnings.filterwarnings("ignore", "The specified dataset source can be "
                                        "interpreted in multiple ways", UserWarning)
                dataset = mlflow.data.from_numpy(X, targets=y, name=name, source=source)
            mlflow.log_input(dataset, context=context)
        if job.cfg.tracking.log_model:
            _log_encoder(job, result)


def _log_encoder(job: PreparedJob, result: JobResult) -> None:
    """The encoder as the pyfunc model ``encoder``: raw features in, bottleneck out."""
    from aesweep.tracking.models import log_encoder

    log_encoder(job, result)
