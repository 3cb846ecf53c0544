"""The ``aesweep`` command: Hydra's CLI around :func:`aesweep.task.run_task`.

Importing it is light (Hydra, OmegaConf, the config schema): ``--help``, ``--cfg`` and a
config error answer without importing the job's libraries (scikit-learn, TensorFlow,
MLflow, pandas); :func:`run` imports them once the config passed its checks.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from aesweep import interrupts
from aesweep.autoencoder_params import check_autoencoder
from aesweep.config import config_dir, register_configs, share_config_store, validate_config
from aesweep.errors import fail
from aesweep.paths import pin_root
from aesweep.runtime import job_threads

if TYPE_CHECKING:
    from aesweep.task import JobContext, JobOutcome

INTERRUPTED = 130
# Matplotlib's first import on a machine logs "generated new fontManager" at INFO, which
# Hydra's handler would print as a [HYDRA] line; its warnings still show.
logging.getLogger("matplotlib.font_manager").setLevel(logging.WARNING)


class _SweepRetracingFilter(logging.Filter):
    """Every job of a multirun builds fresh Keras models, so TensorFlow's warning about
    retracing tf.functions is expected there, not a sign of a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def job_context() -> JobContext:
    """What Hydra knows about the running job."""
    from aesweep.task import JobContext

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    # As typed: iterating the node would resolve "${oc.env:...}" in an override's text.
    overrides = OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)
    return JobContext(overrides=tuple(overrides),
                      job_num=hydra_cfg.job.num if multirun else None,
                      threads=job_threads(OmegaConf.select(hydra_cfg, "launcher.n_jobs"),
                                          OmegaConf.select(hydra_cfg, "launcher.cpus_per_task")),
                      launch_dir=hydra_cfg.runtime.cwd)


def check_config(cfg: DictConfig) -> None:
    """A single run's config errors, raised before the job's libraries are imported (the
    job checks again; a multirun's bad job is logged as a FAILED run instead)."""
    pin_root(cfg, HydraConfig.get().runtime.cwd)
    validate_config(cfg)
    check_autoencoder(cfg)


def run(cfg: DictConfig) -> JobOutcome | None:
    logging.getLogger("tensorflow").addFilter(_SweepRetracingFilter())
    try:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            check_config(cfg)
        from aesweep.task import run_task

        return run_task(cfg, job_context())
    except Exception as error:  # a multirun's jobs never raise: they log FAILED runs
        fail(error)


register_configs()
share_config_store()
_hydra_main = hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")(run)


def main() -> None:
    """The console script: Hydra's CLI, with Ctrl-C and SIGTERM marking runs KILLED."""
    interrupts.install()
    try:
        _hydra_main()
    except KeyboardInterrupt:
        from aesweep.tracking.callbacks import close_open_sweeps

        close_open_sweeps("KILLED")
        print("aesweep: interrupted; the running job and its sweep are marked KILLED",
              file=sys.stderr, flush=True)
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
