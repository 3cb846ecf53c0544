"""``hydra/sweeper=search``: an Optuna search, optionally halved over ``trainer.epochs``.

The logic lives in :mod:`aesweep.search`; this module binds it to Hydra: the config
schema, the sweeper, and a callback that checks the settings before anything is logged.

Hydra runs the callbacks' ``on_multirun_start`` (where aesweep's tracking callback opens
the store and the sweep's parent run) *before* it instantiates the sweeper and calls its
``setup``. So the config node of ``hydra/sweeper=search`` also adds the callback
:class:`SearchCheck` to ``hydra.callbacks``; merged with Hydra's own config, it comes
before the app's tracking callback and stops bad input with one line (exit 2) before any
MLflow run exists.
"""

# No `from __future__ import annotations`: Hydra loads plugin modules without registering
# them in sys.modules, and dataclasses then cannot resolve string annotations.
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from aesweep.errors import AesweepError, fail
from hydra_plugins.aesweep_plugins.sweeper import lost

log = logging.getLogger(__name__)


@dataclass
class FidelityConf:
    key: str = "trainer.epochs"  # the only one that resumes from checkpoints
    min_resource: Optional[int] = None  # noqa: UP045  (epochs of the lowest rung)
    max_resource: Optional[int] = None  # noqa: UP045  (epochs of the top rung)
    reduction_factor: int = 3  # η: 1/η of a rung's configurations go on; rungs η times apart
    brackets: int = 1  # Hyperband brackets; 1: plain successive halving


@dataclass
class SearchSweeperConf:
    _target_: str = "hydra_plugins.aesweep_plugins.search.SearchSweeper"
    # OmegaConf 2.3 reads Optional[...], not X | None.
    # Empty, not null, by default: then hydra.sweeper.params.KEY=... works on the command
    # line (OmegaConf cannot merge a key into a null node); same for fidelity.
    params: Optional[dict[str, str]] = field(default_factory=dict)  # noqa: UP045  (the space)
    repeat: Optional[dict[str, str]] = field(default_factory=dict)  # noqa: UP045  ({seed: "0,1,2"})
    sampler: str = "tpe"  # tpe | random | grid | nsga2
    seed: Optional[int] = None  # noqa: UP045  (null: derived from the study name)
    n_trials: int = 20  # configurations in the study, counted across resumes
    objectives: list[str] = field(default_factory=lambda: ["validation"])
    # Halving needs min_resource and max_resource; without them (or null) there is none.
    fidelity: Optional[FidelityConf] = field(default_factory=FidelityConf)  # noqa: UP045
    storage: Optional[str] = None  # noqa: UP045  (null: beside the MLflow store)
    study_name: Optional[str] = None  # noqa: UP045  (null: a hash of the command)
    max_batch_size: Optional[int] = None  # noqa: UP045  (jobs launched at once at most)


@dataclass
class SearchCheckConf:
    _target_: str = "hydra_plugins.aesweep_plugins.search.SearchCheck"


# At package `hydra`, so that choosing this sweeper also installs its check (see above).
ConfigStore.instance().store(
    group="hydra/sweeper", name="search", package="hydra", provider="aesweep",
    node={"sweeper": SearchSweeperConf, "callbacks": {"aesweep_search_check": SearchCheckConf}})


def _task_overrides(config: DictConfig) -> list[str]:
    return [str(o) for o in OmegaConf.to_container(config.hydra.overrides.task, resolve=False)]


def _settings(config: DictConfig) -> Any:
    from aesweep.search.settings import read_settings

    try:
        return read_settings(config, _task_overrides(config))
    except AesweepError as error:
        fail(error)


class SearchCheck(Callback):
    """Check ``hydra.sweeper.*`` before the tracking callback opens the store."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if OmegaConf.select(config, "hydra.sweeper._target_") != SearchSweeperConf._target_:
            return  # the sweeper was replaced after this node was merged
        try:
            _settings(config)
        except Exception as error:  # Hydra would turn it into a warning and go on
            fail(error)


class SearchSweeper(Sweeper):
    """Ask Optuna, launch the configurations (rung by rung with a fidelity), tell it."""

    def __init__(self, **conf: Any) -> None:
        self.conf = conf  # config.hydra.sweeper, which setup() reads with the command line
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.settings: Any = None
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config = config
        self.settings = _settings(config)
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)

    def sweep(self, arguments: list[str]) -> Any:
        from mlflow.tracking import MlflowClient

        from aesweep.search.driver import Search
        from aesweep.search.study import open_study
        from aesweep.tracking.resume import run_ended

        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        s, returns = self.settings, []
        client = MlflowClient(s.tracking_uri)

        def launch(jobs: list[list[str]]) -> list[Any]:
            outcomes: list[Any] = []
            size = s.max_batch_size or max(len(jobs), 1)
            for start in range(0, len(jobs), size):
                results = self.launcher.launch(jobs[start:start + size],
                                               initial_job_idx=self.job_idx)
                outcomes += [self._outcome(num, result)
                             for num, result in enumerate(results, start=self.job_idx)]
                self.job_idx += len(results)
                returns.append(results)
            return outcomes

        try:
            population = s.fidelity.shapes[0].size if s.fidelity else s.round_size
            study = open_study(s.storage, s.study_name, s.directions, s.sampler, s.seed,
                               population)
            Search(s, study, launch, sweep_run_id=self._parent_run_id(),
                   sweep_ended=lambda run_id: run_ended(client, run_id),
                   tag_pruned=lambda run_ids, rung: _tag_pruned(client, run_ids, rung)).run()
        except AesweepError as error:  # found only once jobs ran: an objective they lack
            fail(error)
        return returns

    @staticmethod
    def _outcome(num: int, result: JobReturn) -> Any:
        """The job's JobOutcome; None for a failed job (its run is FAILED) or a lost one."""
        if result.status == JobStatus.FAILED:  # its worker died: it could not log
            lost(num, list(result.overrides or ()), result._return_value)
            return None
        return result.return_value

    def _parent_run_id(self) -> str | None:
        assert self.config is not None
        prefix = "tracking.parent_run_id="
        hydra_overrides: Sequence[str] = self.config.hydra.overrides.hydra
        return next((str(o)[len(prefix):] for o in hydra_overrides
                     if str(o).startswith(prefix)), None)


def _tag_pruned(client: Any, run_ids: list[str], rung: int) -> None:
    from aesweep.names import PRUNED_TAG

    for run_id in run_ids:
        client.set_tag(run_id, PRUNED_TAG, str(rung))
