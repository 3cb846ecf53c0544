"""MLflow runs: one per job, one parent per sweep, and what each logs.

Every text that reaches the store (run names, params, tags, text artifacts) passes
through the job's :class:`~aesweep.tracking.redaction.Redactor`.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from mlflow.entities import DatasetInput, Metric, Param, Run, RunTag
from omegaconf import DictConfig, OmegaConf

from aesweep.interrupts import acted_on
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
from aesweep.plots import save_loss_curve
from aesweep.tracking.redaction import Redactor
from aesweep.tracking.resume import fail_stale_sweeps, owner_tags
from aesweep.tracking.store import Store

if TYPE_CHECKING:
    from mlflow.data.dataset_source import DatasetSource

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
        acted_on()
        end_run(store, run_id, "KILLED", "interrupted (Ctrl-C or SIGTERM)")
        raise
    except BaseException as error:
        if not interrupted(error):
            end_run(store, run_id, "FAILED", error, redactor)
            raise
        acted_on()
        end_run(store, run_id, "KILLED", "interrupted (Ctrl-C or SIGTERM)")
        raise KeyboardInterrupt from error
    end_run(store, run_id, "FINISHED")


def interrupted(error: BaseException) -> bool:
    """Whether ``error`` is a Ctrl-C (or SIGTERM) in disguise. A KeyboardInterrupt raised
    while C code calls back into Python (TensorFlow tracing a step, a store driver) can
    come out as the SystemError or RuntimeError of the C function, with the interrupt as
    its cause or context."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


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
    """Log encoder, dataset inputs, final metrics and tags, and artifacts, all to ``run_id``
    by its explicit id (so ``MLFLOW_RUN_ID`` cannot redirect them). The per-epoch losses
    are not logged here: :class:`~aesweep.tracking.live.LiveMetrics` sent them while
    training. With ``started`` (the job's ``perf_counter`` at its start), log its overhead
    last and add it to ``result.metrics``."""
    from aesweep.tracking.overrides import public

    client, cfg = store.client, job.cfg
    model_id = None
    if cfg.tracking.log_model:  # first: MLflow links the run's metrics so far to the model
        from aesweep.tracking.models import log_encoder

        model_id = log_encoder(store, run_id, job, result, redactor.params(cfg))
    client.log_inputs(run_id, datasets=dataset_inputs(job, redactor))
    # The final metrics name the encoder's model, as MLflow's log_model links a run's
    # metrics to the model (once, here, instead of re-reading every metric's history).
    now = int(time.time() * 1000)
    metrics = [Metric(key, value, now, 0, model_id=model_id)
               for key, value in result.metrics.items()]
    client.log_batch(run_id, metrics=metrics,
                     tags=[RunTag(k, v) for k, v in redactor.texts(result.tags).items()])
    with tempfile.TemporaryDirectory(prefix="aesweep-artifacts-") as scratch:
        config, plots = Path(scratch, "config"), Path(scratch, "plots")
        config.mkdir()
        plots.mkdir()
        (config / "config.yaml").write_text(OmegaConf.to_yaml(redactor.config(cfg)))
        (config / "overrides.txt").write_text("\n".join(public(overrides, redactor)) + "\n")
        save_loss_curve(result.history, plots / "loss_curve.png", title=redactor.text(name))
        client.log_artifacts(run_id, scratch)  # one upload for the three
    if started is not None:
        overhead = (time.perf_counter() - started - result.metrics[TRAIN_SECONDS]
                    - result.downstream_seconds)
        client.log_metric(run_id, OVERHEAD_SECONDS, overhead)
        result.metrics[OVERHEAD_SECONDS] = overhead


def dataset_inputs(job: PreparedJob, redactor: Redactor) -> list[DatasetInput]:
    """The job's training, validation and test rows as MLflow dataset inputs: a digest of
    each (MLflow's, without copying the arrays: :func:`numpy_digest`), its shape and
    schema, and where it came from."""
    from mlflow.data.numpy_dataset import NumpyDataset
    from mlflow.entities import Dataset, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    s = job.splits
    source = _dataset_source(job, redactor)
    inputs = []
    for context, (X, y) in {"training": (s.X_train, s.y_train),
                            "validation": (s.X_val, s.y_val),
                            "test": (s.X_test, s.y_test)}.items():
        if X is None:
            continue
        fields = NumpyDataset(X, source, targets=y, name=job.dataset.name,
                              digest=numpy_digest(X, y)).to_dict()
        inputs.append(DatasetInput(
            Dataset(fields["name"], fields["digest"], fields["source_type"], fields["source"],
                    fields.get("schema"), fields.get("profile")),
            [InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    return inputs


def _dataset_source(job: PreparedJob, redactor: Redactor) -> DatasetSource:
    """A CSV's or Parquet file's location; for generated and bundled sets (the params
    describe them), the code that ran, as MLflow's ``from_numpy`` records it."""
    if job.cfg.dataset.name in ("csv", "parquet"):
        from mlflow.data.dataset_source_registry import resolve_dataset_source

        with warnings.catch_warnings():
            # MLflow registers its local-file source class twice, then warns that a
            # path "can be interpreted in multiple ways": both are the same class.
            warnings.filterwarnings("ignore", "The specified dataset source can be "
                                    "interpreted in multiple ways", UserWarning)
            return resolve_dataset_source(redactor.text(job.dataset.source))
    return _code_source()


def _code_source() -> DatasetSource:
    """What ``mlflow.data.from_numpy`` records as a source without one: the run context's
    tags (entry point, user, git commit), resolved once per process."""
    from mlflow.data.code_dataset_source import CodeDatasetSource

    return CodeDatasetSource(tags=context_tags())


@functools.cache
def _context_tags() -> tuple[tuple[str, str], ...]:
    from mlflow.tracking.context import registry

    return tuple(registry.resolve_tags().items())


def context_tags() -> dict[str, str]:
    """The tags MLflow gives what a run logs, a dataset source or a model (user, entry
    point, git commit): resolved once per process, as they do not change from one job to
    the next and resolving them reads the git repository."""
    return dict(_context_tags())


def numpy_digest(features: np.ndarray, targets: np.ndarray | None = None) -> str:
    """MLflow's digest of a NumPy dataset (``compute_numpy_digest``: a hash of the first
    ``MAX_ROWS`` elements of each array, flattened, and of its shape), without the copy of
    the whole array that MLflow's flattening makes."""
    import pandas as pd
    from mlflow.data.digest_utils import MAX_ROWS, get_normalized_md5_digest

    elements: list = []
    for array in (features, targets):
        if array is None:
            continue
        head = np.asarray(array[:MAX_ROWS]).reshape(-1)[:MAX_ROWS]  # row-major, as flatten
        try:
            elements.append(pd.util.hash_array(head))
        except TypeError:
            elements.append(np.int64(head.size))
        elements.extend(np.int64(n) for n in array.shape)
    return get_normalized_md5_digest(elements)
