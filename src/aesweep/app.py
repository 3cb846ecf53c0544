"""The ``aesweep`` command: a Hydra app running one job per composed config."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from aesweep.config import config_hash, register_configs
from aesweep.errors import AesweepError
from aesweep.job import headline, prepare_job, run_job

log = logging.getLogger("aesweep")


class _SweepRetracingFilter(logging.Filter):
    """Every job of a multirun builds fresh Keras models, so TensorFlow's warning about
    retracing tf.functions is expected there, not a sign of a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def config_dir() -> str:
    """``conf/`` inside an installed wheel, else the source checkout's ``conf/``."""
    packaged = Path(__file__).parent / "conf"
    return str(packaged if packaged.is_dir() else Path(__file__).parents[2] / "conf")


def exit_with(error: AesweepError) -> NoReturn:
    """One line and exit code 2; the full traceback only with HYDRA_FULL_ERROR=1."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    print(f"aesweep: error: {error}", file=sys.stderr, flush=True)
    sys.exit(2)


def limit_threads(hydra_cfg: Any) -> None:
    """Give each parallel worker its share of the cores, so that n workers on n cores do
    not oversubscribe. A no-op for the in-process launcher."""
    n_jobs = OmegaConf.select(hydra_cfg, "launcher.n_jobs")
    cores = os.cpu_count() or 1
    if not n_jobs or n_jobs == 1:
        return
    threads = max(1, cores // (cores if n_jobs < 0 else n_jobs))
    from threadpoolctl import threadpool_limits

    from aesweep.runtime import tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already started in this worker: its first job set the limits
    threadpool_limits(threads)


def run(cfg: DictConfig) -> float | None:
    """One job: validate, train, evaluate, log. Returns the encoded main metric.

    In a multirun a failing job is logged as a FAILED run and the sweep goes on; the
    driver reports the failures at the end. A single run exits at once.
    """
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    overrides = list(hydra_cfg.overrides.task)
    bad_input: AesweepError | None = None
    try:
        job = prepare_job(cfg)  # every bad-input check happens before training and MLflow
    except AesweepError as error:
        if not multirun:
            exit_with(error)
        bad_input = error

    # Imported only once the input is known good: TensorFlow and MLflow are slow to load.
    from aesweep import resume, tracking

    try:
        tracking.ensure_experiment(cfg.tracking)  # before TensorFlow: fail fast
    except AesweepError as error:
        if not multirun:
            exit_with(error)
        log.error("job failed: %s", error)
        return None
    parent = cfg.tracking.parent_run_id
    grid = tracking.sweep_grid(cfg.tracking.uri, parent) if parent else {}
    name = tracking.run_name(overrides, list(grid) if parent else None)
    tags = {resume.HASH_TAG: config_hash(cfg), **resume.owner_tags()}
    if multirun:
        tags["aesweep.job_num"] = str(hydra_cfg.job.num)
    if bad_input is not None:
        tracking.record_failure(cfg, name, tags, bad_input)
        log.error("job %s failed: %s", name, bad_input)
        return None

    if multirun and cfg.sweep.skip_finished:
        previous = tracking.previous_runs(cfg, tags[resume.HASH_TAG])
        for run_id in previous.stale:
            log.warning("run %s of %s was left RUNNING by a process that died; marked FAILED",
                        run_id, name)
        done = previous.finished or previous.running_elsewhere
        if done:
            state = "FINISHED" if previous.finished else "RUNNING in another live process"
            log.info("skip %s: already %s as run %s (sweep.skip_finished=false re-runs it)",
                     name, state, done)
            return tracking.reuse_run(cfg, done, hydra_cfg.job.num, job.metric)

    job.checkpoint_dir = tracking.checkpoint_dir(cfg.tracking, cfg.trainer.checkpoint_dir)
    if cfg.evaluation.cache_controls:
        job.cache_dir = str(Path(job.checkpoint_dir).parent / "cache")
    job.checkpoint_epochs = tuple(int(e) for e in grid.get("trainer.epochs", ()))

    from aesweep.runtime import keras

    limit_threads(hydra_cfg)
    keras.backend.clear_session()  # a multirun runs every job in this process
    logging.getLogger("tensorflow").addFilter(_RETRACING_FILTER)
    tags.update({"aesweep.task": job.task, "aesweep.main_metric": job.metric,
                 "aesweep.dataset": job.dataset.name})
    try:
        with tracking.job_run(cfg, name, tags) as run_id:
            result = run_job(job)
            tracking.log_job(run_id, job, result, overrides)
    except Exception as error:
        if not multirun:
            if isinstance(error, AesweepError):
                exit_with(error)
            raise
        log.error("job %s failed: %s", name, tracking.error_text(error))
        return None
    log.info("%s  run=%s", headline(result), run_id)
    return result.metrics[f"encoded_{result.main_metric}"]


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a job the same way Ctrl-C does


_RETRACING_FILTER = _SweepRetracingFilter()
register_configs()
_hydra_main = hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")(run)


def main() -> None:
    """The console script: Hydra's CLI, with Ctrl-C and SIGTERM marking runs KILLED."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _hydra_main()
    except KeyboardInterrupt:
        from aesweep.callbacks import close_open_sweeps

        close_open_sweeps("KILLED")
        print("aesweep: interrupted; the running job and its sweep are marked KILLED",
              file=sys.stderr, flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
