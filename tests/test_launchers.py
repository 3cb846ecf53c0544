"""Parallel launchers share training across epoch counts: aesweep's sweeper runs the grid
in stages of ascending ``trainer.epochs``, and its Ray launcher config joins clusters and
carries the environment the jobs need."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from aesweep.names import EPOCHS_PARAM, PARENT_TAG, RESUMED_TAG, THREADS_TAG, TRAIN_HASH_TAG
from hydra_plugins.aesweep_plugins.ray_launcher import (
    LOCAL_OBJECT_STORE,
    init_arguments,
    job_environment,
)
from hydra_plugins.aesweep_plugins.sweeper import stages

from helpers import TINY, describe, run_cli, store_args, store_uri


def test_stages_run_shorter_epoch_counts_first() -> None:
    grid = [["trainer.epochs=20", "seed=0"], ["trainer.epochs=5", "seed=0"],
            ["trainer.epochs=20", "seed=1"], ["trainer.epochs=10", "seed=1"]]
    assert stages(grid, "trainer.epochs") == [
        [["trainer.epochs=5", "seed=0"]], [["trainer.epochs=10", "seed=1"]],
        [["trainer.epochs=20", "seed=0"], ["trainer.epochs=20", "seed=1"]]]
    assert stages(grid, None) == [grid]
    unswept = [["seed=0"], ["seed=1"]]
    assert stages(unswept, "trainer.epochs") == [unswept]


def test_ray_init_arguments_local_vs_joining_a_cluster() -> None:
    env = {"MLFLOW_TRACKING_PASSWORD": "pw"}
    local = init_arguments({"address": None, "num_cpus": 2, "object_store_memory": None}, env)
    assert local["num_cpus"] == 2 and local["object_store_memory"] == LOCAL_OBJECT_STORE
    assert "runtime_env" not in local  # its workers inherit this environment
    assert local["address"] == "local"  # never a cluster left running on this machine
    joining = init_arguments({"address": "auto", "num_cpus": None, "num_gpus": None,
                              "include_dashboard": False}, env)
    # ray.init refuses local-only settings when joining; an explicit value still goes.
    assert "num_cpus" not in joining and "object_store_memory" not in joining
    assert joining["include_dashboard"] is False and joining["address"] == "auto"
    assert joining["runtime_env"] == {"env_vars": env}


def test_jobs_get_the_tracking_environment_and_what_the_config_reads() -> None:
    cfg = OmegaConf.create({"api_key": "${oc.env:MY_KEY}", "tracking": {"uri": "x"}})
    environ = {"MY_KEY": "k", "MLFLOW_TRACKING_USERNAME": "u", "HOME": "/root", "PATH": "/bin"}
    assert job_environment(cfg, environ) == {"MY_KEY": "k", "MLFLOW_TRACKING_USERNAME": "u"}


def epochs_trained(run) -> int:
    """Epochs a run's job trained itself: its count minus the checkpoint it resumed from."""
    return int(run.data.params[EPOCHS_PARAM]) - int(run.data.tags.get(RESUMED_TAG, 0))


@pytest.mark.slow
@pytest.mark.xdist_group("joblib")
def test_parallel_workers_share_training_across_epoch_counts(tmp_path: Path) -> None:
    """trainer.epochs=2,4 on two joblib workers trains 4 epochs per config in all, not 6."""
    result = run_cli(["-m", *TINY, "trainer.epochs=4,2", "architecture.bottleneck=3,5",
                      "evaluation.bootstrap_resamples=0", "hydra/launcher=joblib",
                      "hydra.launcher.n_jobs=2", *store_args(tmp_path)], cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert "4 jobs in 2 stages by trainer.epochs" in result.stderr + result.stdout
    client = MlflowClient(store_uri(tmp_path))
    runs = [r for r in client.search_runs(["1"]) if PARENT_TAG in r.data.tags]
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    by_config: dict[str, list] = {}
    for run in runs:
        by_config.setdefault(run.data.tags[TRAIN_HASH_TAG], []).append(run)
    assert len(by_config) == 2
    for chain in by_config.values():
        assert sum(epochs_trained(r) for r in chain) == 4, [r.data.tags for r in chain]
        longest = max(chain, key=lambda r: int(r.data.params[EPOCHS_PARAM]))
        assert longest.data.tags[RESUMED_TAG] == "2"
    # The machine's cores shared by the 2 workers.
    assert {r.data.tags[THREADS_TAG] for r in runs} == {str(max(1, (os.cpu_count() or 1) // 2))}
