"""Hydra's Ray launcher (``hydra-ray-launcher``), made fit for a shared cluster.

``hydra/launcher=ray`` selects :class:`RayLauncherConf` below, which replaces the upstream
config of that name (see :mod:`.search_path` for how). It runs each job as a Ray task, like
the upstream launcher, and differs where a cluster needs it to:

- **Joining a cluster works as typed.** Upstream always passes ``object_store_memory``,
  which ``ray.init`` refuses when joining a running cluster. Here the local-only settings
  (``num_cpus``, ``object_store_memory``, ...) are passed only to a new local instance.
- **Workers get the environment the jobs need.** On a cluster, Ray workers inherit the
  environment of ``ray start``, not the driver's. The tracking credentials (``MLFLOW_*``)
  and every variable the config reads with ``${oc.env:...}`` travel in Ray's
  ``runtime_env``, never in a config file or a log line. (A new local instance's workers
  inherit the driver's environment, and a runtime environment would only delay their start.)
- **A lost node fails its jobs, not the sweep.** Results are gathered as tasks finish; a
  task that died with its node or worker comes back as a FAILED job, so the other jobs'
  results are kept and the driver marks the job's run FAILED. ``max_retries: 0`` by
  default: a retried job would log a second run; re-running the sweep runs what is missing.

The upstream package is imported on first launch only: Hydra imports every plugin module
at start-up, and ``aesweep`` must start without Ray installed.
"""

# No `from __future__ import annotations`: Hydra loads plugin modules without registering
# them in sys.modules, and dataclasses then cannot resolve string annotations.
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

# A local instance's object store: jobs pass only configs and small results through it
# (the upstream launcher's default, https://github.com/ray-project/ray/issues/11966).
LOCAL_OBJECT_STORE = 78_643_200
TOKEN_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"
# What a job may read from the environment besides the config's ${oc.env:...} keys.
ENV_PREFIXES = ("MLFLOW_", "AESWEEP_")
_OC_ENV = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class RayConf:
    # ray.init's arguments. address null: a new local Ray instance (never a cluster that
    # happens to run on this machine, as ray.init's own default would); join a running cluster
    # with address=auto (on one of its nodes) or ray://HOST:10001 (Ray Client). Settings that
    # only apply to a new local instance (num_cpus, object_store_memory, ...) are left out
    # when joining, so +hydra.launcher.ray.init.object_store_memory=null is not needed.
    init: dict[str, Any] = field(default_factory=lambda: {
        "address": None, "num_cpus": None, "num_gpus": None, "include_dashboard": False})
    # Each job's resources (ray.remote's arguments). Its TensorFlow and BLAS thread pools
    # get num_cpus threads; num_gpus 1 trains on a GPU of its node (tagged aesweep.device).
    # max_retries 0: a lost node fails its job; re-running the sweep runs what is missing.
    remote: dict[str, Any] = field(default_factory=lambda: {
        "num_cpus": 1, "num_gpus": 0, "max_retries": 0})


@dataclass
class RayLauncherConf:
    _target_: str = "hydra_plugins.aesweep_plugins.ray_launcher.AesweepRayLauncher"
    ray: RayConf = field(default_factory=RayConf)


def register() -> None:
    """Store :class:`RayLauncherConf` as ``hydra/launcher=ray``, over the upstream one."""
    ConfigStore.instance().store(group="hydra/launcher", name="ray", node=RayLauncherConf,
                                 provider="aesweep")


def job_environment(config: DictConfig, environ: Optional[dict[str, str]] = None  # noqa: UP045
                    ) -> dict[str, str]:
    """The driver's environment variables that the jobs of ``config`` read."""
    environ = dict(os.environ if environ is None else environ)
    text = OmegaConf.to_yaml(config, resolve=False)
    wanted = set(_OC_ENV.findall(text))
    return {key: value for key, value in environ.items()
            if key in wanted or key.startswith(ENV_PREFIXES)}


def init_arguments(init: Any, env: dict[str, str]) -> dict[str, Any]:
    """``ray.init``'s keyword arguments. Unset (None) settings are left out: when joining a
    cluster, ray.init refuses the local-only ones (``num_cpus``, ``object_store_memory``, ...)
    even as None. Joining, ``env`` is added to the runtime environment's variables."""
    kwargs = dict(OmegaConf.to_container(init, resolve=True) if OmegaConf.is_config(init)
                  else init)
    joining = kwargs.get("address") not in (None, "", "local")
    if not joining:
        kwargs["address"] = "local"  # None would join any cluster `ray start` left here
        if kwargs.get("object_store_memory") is None:
            kwargs["object_store_memory"] = LOCAL_OBJECT_STORE
    kwargs = {k: v for k, v in kwargs.items() if v is not None}  # Ray's defaults
    if joining and env:  # a new local instance's workers inherit this process's environment
        runtime_env = dict(kwargs.get("runtime_env") or {})
        runtime_env["env_vars"] = {**env, **(runtime_env.get("env_vars") or {})}
        kwargs["runtime_env"] = runtime_env
    return kwargs


class AesweepRayLauncher(Launcher):
    def __init__(self, ray: DictConfig) -> None:
        self.ray_cfg = ray
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        try:
            import ray
            from hydra_plugins.hydra_ray_launcher._launcher_util import _run_job
        except ImportError as error:
            raise ImportError(f"hydra/launcher=ray needs Ray and Hydra's Ray launcher: "
                              f'pip install "aesweep[ray]" ({error})') from None

        assert self.config is not None and self.hydra_context is not None
        assert self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        if not ray.is_initialized():
            kwargs = init_arguments(self.ray_cfg.init, job_environment(self.config))
            where = "a new local instance" if kwargs["address"] == "local" else kwargs["address"]
            log.info("Ray: connecting to %s", where)  # not the kwargs: they hold secrets
            # A new local instance announces that it secures itself with a token (Ray's
            # default since 2.52): a notice, not a problem to act on.
            logging.getLogger(TOKEN_NOTICE_LOGGER).setLevel(logging.ERROR)
            ray.init(**kwargs)
        remote = OmegaConf.to_container(self.ray_cfg.remote, resolve=True) or {}
        run_job_on_ray = ray.remote(**remote)(_run_job)
        log.info("Ray launcher is launching %d jobs", len(job_overrides))

        pending: dict[Any, tuple[int, Sequence[str]]] = {}
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            sweep_config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = f"job_id_for_{idx}"
                sweep_config.hydra.job.num = idx
            ref = run_job_on_ray.remote(hydra_context=self.hydra_context,
                                        sweep_config=sweep_config,
                                        task_function=self.task_function,
                                        singleton_state=Singleton.get_state())
            pending[ref] = (idx - initial_job_idx, overrides)

        results: list[Optional[JobReturn]] = [None] * len(job_overrides)  # noqa: UP045
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            position, overrides = pending.pop(done[0])
            try:
                results[position] = ray.get(done[0])
            except ray.exceptions.RayError as error:  # the task's worker or node died
                results[position] = JobReturn(overrides=list(overrides),
                                              status=JobStatus.FAILED,
                                              _return_value=_one_line(error))
        return [r for r in results if r is not None]


def _one_line(error: BaseException) -> RuntimeError:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return RuntimeError(f"{type(error).__name__}: {first}")
