"""One job of the ``aesweep`` command, end to end: validate, resume or skip, run, log.

:func:`run_task` takes what Hydra knows about the job as a :class:`JobContext`, so tests
call it in-process, like any function. It opens the tracking store once per job and
uses one client throughout.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from aesweep.config import config_hash
from aesweep.errors import one_line
from aesweep.interrupts import raise_pending
from aesweep.job import PreparedJob, headline, prepare_job, run_job
from aesweep.names import (
    DATASET_TAG,
    DEVICE_TAG,
    ENCODED,
    HASH_TAG,
    JOB_NUM_TAG,
    MAIN_METRIC_TAG,
    RUN_COLOR_TAG,
    RUNG_TAG,
    TASK_TAG,
    THREADS_TAG,
    TRAIN_HASH_TAG,
    TRIAL_TAG,
    metric_key,
    sign,
    val_metric_key,
)
from aesweep.paths import check_paths, pin_root
from aesweep.progress import EpochLog, chain, sweep_line

if TYPE_CHECKING:  # tracking imports MLflow, which a bad input never needs to load
    from aesweep.tracking.redaction import Redactor
    from aesweep.tracking.store import Store

log = logging.getLogger("aesweep")


@dataclass(frozen=True)
class JobOutcome:
    """What a job returns to its sweeper (through any launcher, so it stays picklable):
    its run and every metric it logged."""

    run_id: str
    main_metric: str
    metrics: dict[str, float]

    @property
    def validation(self) -> float:
        """The encoded features' main metric on the validation rows: what sweeps select on."""
        return self.metrics[val_metric_key(ENCODED, self.main_metric)]

    @property
    def test(self) -> float:
        """The encoded features' main metric on the test rows: reported, never selected on."""
        return self.metrics[metric_key(ENCODED, self.main_metric)]

    @property
    def higher_is_better(self) -> bool:
        return sign(self.main_metric) > 0


@dataclass(frozen=True)
class JobContext:
    """What the launcher knows about a job and the config does not."""

    overrides: Sequence[str] = ()  # the job's own overrides, as typed or swept
    job_num: int | None = None  # its number in a multirun; None for a single run
    threads: int | None = None  # the job's share of the CPUs, for thread limits; None: all
    launch_dir: str = field(default_factory=os.getcwd)  # where relative paths start

    @property
    def multirun(self) -> bool:
        return self.job_num is not None


def run_task(cfg: DictConfig, context: JobContext | None = None) -> JobOutcome | None:
    """Run one job and log it; return its run and metrics.

    A single run raises :class:`AesweepError` on bad input and re-raises any failure
    (its run, if started, ends FAILED). In a multirun a failing job is logged as a FAILED
    run and None is returned, so that the sweep goes on; the driver reports failures.
    """
    from time import perf_counter

    started = perf_counter()  # the job's overhead counts from here (see OVERHEAD_SECONDS)
    from aesweep.tracking.checkpoints import train_hash
    from aesweep.tracking.overrides import run_name
    from aesweep.tracking.redaction import Redactor
    from aesweep.tracking.resume import owner_tags
    from aesweep.tracking.runs import parent_tags, record_failure
    from aesweep.tracking.store import open_store
    from aesweep.tracking.view import epoch_color

    context = context or JobContext()
    pin_root(cfg, context.launch_dir)
    bad_input: Exception | None = None
    try:  # every bad-input check happens before training and any MLflow run
        job = prepare_job(cfg)
        check_paths(cfg)
    except Exception as error:
        if not context.multirun:
            raise
        bad_input = error

    store = open_store(cfg.tracking, reuse=context.multirun)  # once per process in a sweep
    redactor = Redactor(cfg)
    # A sweep's children are named by the keys it varies; anything else by its overrides.
    name = run_name(context.overrides, redactor, list(cfg.sweep.swept_keys) or None)
    tags = {HASH_TAG: config_hash(cfg), TRAIN_HASH_TAG: train_hash(cfg), **owner_tags(),
            **parent_tags(cfg.tracking.parent_run_id)}
    if context.multirun:
        tags[JOB_NUM_TAG] = str(context.job_num)
    color = epoch_color(cfg.trainer.epochs, cfg.sweep.epochs)  # a series per epoch count
    for tag, value in ((TRIAL_TAG, cfg.sweep.trial), (RUNG_TAG, cfg.sweep.rung),
                       (RUN_COLOR_TAG, color)):
        if value is not None:
            tags[tag] = str(value)
    if bad_input is not None:
        record_failure(store, redactor, name, tags, bad_input, cfg)
        log.error("%s", job_line(cfg, context, f"job {name} failed: "
                                 f"{redactor.text(one_line(bad_input))}"))
        return None
    if context.multirun and cfg.sweep.skip_finished:
        previous = _already_done(store, name, tags[HASH_TAG])
        if previous:
            from aesweep.tracking.runs import reuse_run

            done, state = previous
            log.info("%s", job_line(cfg, context, f"skip {name}: already {state} as run "
                                    f"{done} (sweep.skip_finished=false re-runs it)"))
            metrics = reuse_run(store, cfg.tracking.parent_run_id, context.job_num or 0, done)
            return JobOutcome(done, job.metric, metrics)
    tags |= {TASK_TAG: job.task, MAIN_METRIC_TAG: job.metric, DATASET_TAG: job.dataset.name}
    return _run_and_log(job, context, store, redactor, name, tags, started)


def job_line(cfg: DictConfig, context: JobContext, message: str) -> str:
    """``message`` as a line of a sweep: ``[k/N] message  (0:42 elapsed, ETA 2:06)`` when
    the sweeper passed the job count and start (``sweep.jobs``, ``sweep.started``)."""
    k = None if context.job_num is None else context.job_num + 1
    return sweep_line(message, k, cfg.sweep.jobs, cfg.sweep.started)


def _already_done(store: Store, name: str, config_hash: str) -> tuple[str, str] | None:
    """The id and state of a FINISHED (or live RUNNING) run of this config, marking dead
    ones FAILED."""
    from aesweep.tracking.resume import find_previous

    previous = find_previous(store.client, store.experiment_id, config_hash)
    for run_id in previous.stale:
        log.warning("run %s of %s was left RUNNING by a process that died; marked FAILED",
                    run_id, name)
    done = previous.finished or previous.running_elsewhere
    if not done:
        return None
    return done, "FINISHED" if previous.finished else "RUNNING in another live process"


def _run_and_log(job: PreparedJob, context: JobContext, store: Store, redactor: Redactor,
                 name: str, tags: dict[str, str], started: float) -> JobOutcome | None:
    from aesweep.runtime import device_name, fresh_session, limit_threads, node_tags
    from aesweep.tracking.checkpoints import shared_checkpoints
    from aesweep.tracking.live import LiveMetrics
    from aesweep.tracking.runs import error_text, job_run, log_job

    limit_threads(context.threads)
    fresh_session()  # a multirun runs every job in this process
    tags |= {DEVICE_TAG: device_name(), **node_tags()}
    if context.threads:
        tags[THREADS_TAG] = str(context.threads)
    epochs = int(job.cfg.trainer.epochs)
    progress = EpochLog(epochs, label=f"{name}: " if context.multirun else "")
    try:
        with job_run(store, redactor, name, tags, job.cfg) as run_id:
            with shared_checkpoints(store, run_id, job.cfg), \
                    LiveMetrics(store.client, run_id, epochs) as live:
                result = run_job(job, on_epoch=chain(progress, live, raise_pending))
            log_job(store, redactor, run_id, name, job, result, context.overrides, started)
    except Exception as error:
        if not context.multirun:
            raise
        log.error("%s", job_line(job.cfg, context, f"job {name} failed: "
                                 f"{redactor.text(error_text(error))}"))
        return None
    message = f"{name}: {headline(result)}" if context.multirun else headline(result)
    log.info("%s", job_line(job.cfg, context, f"{message}  run={run_id}"))
    return JobOutcome(run_id, result.main_metric, result.metrics)
