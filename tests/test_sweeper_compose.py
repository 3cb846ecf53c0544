"""The aesweep sweeper composes each job once in-process (``composed_once``): the config
its check composed goes to the launcher, once, and equals what composing anew gives."""

from __future__ import annotations

from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from aesweep.config.compose import config_dir, share_config_store
from aesweep.config.schema import register_configs
from hydra_plugins.aesweep_plugins.sweeper import composed_once

from helpers import SCRATCH


def test_a_checked_job_is_composed_once_and_as_anew() -> None:
    register_configs()
    share_config_store()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", overrides=[f"paths.root={SCRATCH}", "+experiment=quickstart"],
            run_mode=RunMode.MULTIRUN)
        job = ["architecture.bottleneck=16", "trainer.epochs=5"]
        calls = []
        compose = loader.load_sweep_config

        def counted(master_config, sweep_overrides):
            calls.append(list(sweep_overrides))
            return compose(master_config, sweep_overrides)

        loader.load_sweep_config = counted
        try:
            with composed_once(loader):
                checked = loader.load_sweep_config(master, job)
                launched = loader.load_sweep_config(master, job)
                other = loader.load_sweep_config(master, ["architecture.bottleneck=4"])
                again = loader.load_sweep_config(master, job)  # handed over already
            assert loader.load_sweep_config is counted  # restored on exit
        finally:
            del loader.load_sweep_config
        assert launched is checked and again is not checked
        assert calls == [job, ["architecture.bottleneck=4"], job]
        assert other.architecture.bottleneck == 4
        fresh = loader.load_sweep_config(master, job)
        assert OmegaConf.to_yaml(launched) == OmegaConf.to_yaml(fresh)
        assert launched.architecture.bottleneck == 16 and launched.trainer.epochs == 5
