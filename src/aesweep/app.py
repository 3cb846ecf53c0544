"""The ``aesweep`` command: a Hydra app running one job per composed config."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from aesweep.config import register_configs
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


def run(cfg: DictConfig) -> float:
    """One job: validate, train, evaluate, log. Returns the encoded main metric."""
    try:
        job = prepare_job(cfg)  # every bad-input check happens before training and MLflow
    except AesweepError as error:
        exit_with(error)

    # Imported only once the input is known good: TensorFlow and MLflow are slow to load.
    import keras

    from aesweep import tracking

    keras.backend.clear_session()  # a multirun runs every job in this process
    logging.getLogger("tensorflow").addFilter(_RETRACING_FILTER)
    hydra_cfg = HydraConfig.get()
    overrides = list(hydra_cfg.overrides.task)
    tags = {"aesweep.task": job.task, "aesweep.main_metric": job.metric,
            "aesweep.dataset": job.dataset.name}
    if hydra_cfg.mode.name == "MULTIRUN":
        tags["aesweep.job_num"] = str(hydra_cfg.job.num)
    try:
        parent = cfg.tracking.parent_run_id
        only = tracking.swept_keys(cfg.tracking.uri, parent) if parent else None
        with tracking.job_run(cfg, tracking.run_name(overrides, only), tags) as run_id:
            result = run_job(job)
            tracking.log_job(run_id, job, result, overrides)
    except AesweepError as error:
        exit_with(error)
    log.info("%s  run=%s", headline(result), run_id)
    return result.metrics[f"encoded_{result.main_metric}"]


_RETRACING_FILTER = _SweepRetracingFilter()
register_configs()
main = hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")(run)

if __name__ == "__main__":
    main()
