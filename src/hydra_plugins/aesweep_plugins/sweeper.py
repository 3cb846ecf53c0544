"""aesweep's sweeper: Hydra's grid, launched in stages of ascending ``trainer.epochs``.

Jobs that differ only in their epoch count share training: a job resumes from the
checkpoint of the longest shorter one. Launched all at once by a parallel launcher
(joblib, Ray, SLURM), every job would start from scratch, since none has finished. So the
grid runs in stages, one per epoch count, shortest first; within a stage every job runs
in parallel. ``trainer.epochs=10,20`` on two workers then trains 20 epochs in all, not 30,
in the same wall time: the 20-epoch job needs the first 10 anyway.

A job whose worker died (a lost Ray node) comes back FAILED instead of raising, so the
sweep goes on and the driver's callback reports it (Hydra's basic sweeper would stop).
Hydra finds this plugin only because it lives in the ``hydra_plugins`` namespace.
"""

# No `from __future__ import annotations`: Hydra loads plugin modules without registering
# them in sys.modules, and dataclasses then cannot resolve string annotations.
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

EPOCHS_KEY = "trainer.epochs"


@dataclass
class AesweepSweeperConf:
    _target_: str = "hydra_plugins.aesweep_plugins.sweeper.AesweepSweeper"
    # OmegaConf 2.3 reads Optional[...], not X | None.
    max_batch_size: Optional[int] = None  # noqa: UP045  (jobs launched at once at most)
    params: Optional[dict[str, str]] = None  # noqa: UP045  (a grid, as in the basic sweeper)
    stage_by: Optional[str] = EPOCHS_KEY  # noqa: UP045  (null: one stage, as the basic one)  # null: launch the grid as Hydra's basic sweeper does


ConfigStore.instance().store(group="hydra/sweeper", name="aesweep", node=AesweepSweeperConf,
                             provider="aesweep")


def stages(jobs: Sequence[Sequence[str]], key: str | None) -> list[list[list[str]]]:
    """The grid's jobs grouped by their value of ``key``, in ascending numeric order (in
    grid order within a stage); one stage when ``key`` is None or not swept."""
    prefix = f"{key}="
    by_value: dict[float, list[list[str]]] = {}
    for job in jobs:
        value = next((o[len(prefix):] for o in job if key and o.startswith(prefix)), "")
        try:
            rank = float(value)
        except ValueError:
            rank = 0.0  # not a number: Hydra's config check will name it
        by_value.setdefault(rank, []).append(list(job))
    return [by_value[rank] for rank in sorted(by_value)]


@contextmanager
def composed_once(loader: Any) -> Iterator[None]:
    """Within: ``loader.load_sweep_config`` hands the config it composed for a job's
    overrides to the next call with the same overrides, which then composes nothing.

    The sweeper composes each job of a batch to check it before anything runs
    (``validate_batch_is_legal``), then Hydra's basic launcher composes it again, in the
    same process: ~0.1 s a job of Hydra and OmegaConf work done twice. The check does not
    keep or change its config, so the launcher can have it. (Only for the basic launcher:
    the others compose in their workers, or pickle the loader.)"""
    compose, own = loader.load_sweep_config, vars(loader).get("load_sweep_config")
    composed: dict[tuple[str, ...], DictConfig] = {}

    def load_sweep_config(master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        key = tuple(sweep_overrides)
        if key in composed:
            return composed.pop(key)
        composed[key] = config = compose(master_config, sweep_overrides)
        return config

    loader.load_sweep_config = load_sweep_config
    try:
        yield
    finally:
        if own is None:
            del loader.load_sweep_config
        else:
            loader.load_sweep_config = own


def progress_overrides(jobs: int, started: float) -> list[str]:
    """What each job needs for its ``[k/N] ... ETA`` line: the sweep's job count and start
    (epoch seconds); k is the job's own number."""
    return [f"sweep.jobs={jobs}", f"sweep.started={started:.1f}"]


def lost(num: int, overrides: list[str], error: BaseException) -> None:
    """Hand a job that died without a result to the driver's callback, which fails its run."""
    from aesweep.tracking.callbacks import LOST_JOBS

    log.error("job #%d (%s) ended without a result: %s", num, " ".join(overrides), error)
    LOST_JOBS[num] = (overrides, str(error))


class AesweepSweeper(BasicSweeper):
    """Hydra's basic sweeper (same grid syntax, ``params`` and ``max_batch_size``), in
    stages of ascending ``stage_by``; failed jobs do not stop the sweep."""

    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None,
                 stage_by: str | None = EPOCHS_KEY) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.stage_by = stage_by

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        (grid,) = self.split_arguments(overrides, None)
        staged = stages(grid, self.stage_by)
        size = self.max_batch_size or max(len(grid), 1)
        self.overrides = [stage[i:i + size] for stage in staged
                          for i in range(0, len(stage), size)]
        # Every launcher composes each job from these overrides, in any process.
        with read_write(self.config.hydra), open_dict(self.config.hydra):
            self.config.hydra.overrides.hydra.extend(progress_overrides(len(grid), time.time()))
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if len(staged) > 1:
            log.info("%d jobs in %d stages by %s, shortest first: each resumes from the one "
                     "before", len(grid), len(staged), self.stage_by)

        returns: list[Sequence[JobReturn]] = []
        first = 0
        while not self.is_done():
            batch = self.get_job_batch()
            in_process = isinstance(self.launcher, BasicLauncher)
            with composed_once(self.hydra_context.config_loader) if in_process else nullcontext():
                self.validate_batch_is_legal(batch)
                results = self.launcher.launch(batch, initial_job_idx=first)
            for num, result in enumerate(results, start=first):
                if result.status == JobStatus.FAILED:  # its worker died: it could not log
                    lost(num, list(result.overrides or ()), result._return_value)
            first += len(batch)
            returns.append(results)
        return returns
