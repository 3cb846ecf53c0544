"""The sweep's driver callback in-process: it fails the command loudly (never a Hydra
``UserWarning``), closes its parent run, and passes the jobs what they need."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, open_dict, read_write

from aesweep.config import config_dir, register_configs
from aesweep.names import ERROR_TAG, ROLE_TAG, SWEEP_GRID_PREFIX, SWEEP_OVERRIDES_PARAM
from aesweep.tracking.callbacks import TrackingCallback


def driver_config(root: Path, sweep: list[str], plain: tuple[str, ...] = ()) -> DictConfig:
    """The config a multirun's driver hands its callbacks: the ``hydra`` node, with the
    ``sweep`` overrides among the task's (compose() cannot apply sweep overrides)."""
    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"paths.root={root}", *plain],
                      return_hydra_config=True)
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.overrides.task = [*sweep, *cfg.hydra.overrides.task]
    return cfg


def parent_of(root: Path):
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("aesweep").experiment_id])
    (parent,) = [r for r in runs if ROLE_TAG in r.data.tags]
    return parent


def test_the_driver_opens_the_sweep_and_passes_jobs_what_they_need(tmp_path: Path) -> None:
    cfg = driver_config(tmp_path, ["architecture.bottleneck=2,4", "trainer.epochs=5,1"])
    callback = TrackingCallback()
    callback.on_multirun_start(cfg)
    parent = parent_of(tmp_path)
    assert parent.info.status == "RUNNING"
    assert parent.data.params[f"{SWEEP_GRID_PREFIX}trainer.epochs"] == "5,1"
    assert parent.data.params[SWEEP_OVERRIDES_PARAM] == \
        f"architecture.bottleneck=2,4 trainer.epochs=5,1 paths.root={tmp_path}"
    for_jobs = list(cfg.hydra.overrides.hydra)
    assert f"tracking.parent_run_id={parent.info.run_id}" in for_jobs
    assert "sweep.epochs=[1,5]" in for_jobs
    assert "sweep.swept_keys=['architecture.bottleneck','trainer.epochs']" in for_jobs
    assert f"paths.root='{tmp_path}'" in for_jobs
    assert Path(cfg.hydra.sweep.dir).is_dir()
    callback.close("KILLED")
    assert parent_of(tmp_path).info.status == "KILLED"


def test_a_report_that_fails_fails_the_sweep(tmp_path: Path, capsys) -> None:
    cfg = driver_config(tmp_path, ["seed=0,1"])
    callback = TrackingCallback()
    callback.on_multirun_start(cfg)
    with pytest.raises(SystemExit) as exit:  # no job ran: the report has no FINISHED run
        callback.on_multirun_end(cfg)
    assert exit.value.code != 0
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("aesweep: error: sweep ") and "no FINISHED runs" in error
    parent = parent_of(tmp_path)
    assert parent.info.status == "FAILED" and "no FINISHED runs" in parent.data.tags[ERROR_TAG]


def test_a_failing_hook_exits_with_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    cfg = driver_config(tmp_path, [], plain=("tracking.uri=gopher://host",))
    with pytest.raises(SystemExit) as exit:
        TrackingCallback().on_multirun_start(cfg)
    assert exit.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "aesweep: error: tracking.uri=gopher://host: unsupported scheme 'gopher'; use one of "
        "sqlite:///PATH, postgresql://, mysql://, mssql://, http(s)://HOST:PORT or databricks")


def test_the_sweepers_settings_become_parent_params_without_its_space() -> None:
    from omegaconf import OmegaConf

    from aesweep.tracking.callbacks import sweeper_params

    search = OmegaConf.create({
        "_target_": "hydra_plugins.aesweep_plugins.search.SearchSweeper",
        "params": {"architecture.bottleneck": "choice(8,16)"}, "storage": None,
        "objectives": ["validation", "minimize architecture.bottleneck"],
        "fidelity": {"key": "trainer.epochs", "min_resource": 3}})
    assert sweeper_params(search) == {
        "sweep.sweeper": "search",
        "sweep.sweeper.objectives": "validation,minimize architecture.bottleneck",
        "sweep.sweeper.fidelity.key": "trainer.epochs",
        "sweep.sweeper.fidelity.min_resource": "3"}
    assert sweeper_params(None) == {}
