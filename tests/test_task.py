"""The task function in-process, against a temporary store: what one job logs, how it
resumes or skips, what a failure leaves behind, and that it resolves the experiment once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep import task
from aesweep.errors import ConfigError
from aesweep.names import (
    CHECKPOINT_EPOCHS_TAG,
    CHECKPOINT_SOURCE_TAG,
    DATASET_TAG,
    ERROR_TAG,
    HASH_TAG,
    HOST_TAG,
    JOB_NUM_TAG,
    MAIN_METRIC_TAG,
    PARENT_TAG,
    PID_STARTED_TAG,
    PID_TAG,
    RESUMED_TAG,
    REUSED_TAG_PREFIX,
    STALE_TAG,
    TASK_TAG,
    TRAIN_HASH_TAG,
)
from aesweep.task import JobContext, run_task
from aesweep.tracking.redaction import Redactor
from aesweep.tracking.resume import find_previous, owner_tags
from aesweep.tracking.runs import close_orphans, create_run, start_sweep_run
from aesweep.tracking.store import open_store

from helpers import TINY, compose_config

pytestmark = pytest.mark.xdist_group("keras")

FAST = [*TINY, "trainer.epochs=1", "tracking.log_model=false",
        "evaluation.bootstrap_resamples=0", "evaluation.controls=[]"]


def runs_in(root: Path) -> list:
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("aesweep")
    return client.search_runs([experiment.experiment_id], max_results=100)


def test_a_single_job_logs_one_finished_run(tmp_path: Path, monkeypatch) -> None:
    lookups = []
    original = MlflowClient.get_experiment_by_name
    monkeypatch.setattr(MlflowClient, "get_experiment_by_name",
                        lambda self, name: lookups.append(name) or original(self, name))
    cfg = compose_config([*FAST, f"paths.root={tmp_path}"])
    outcome = run_task(cfg, JobContext(overrides=["trainer.epochs=1"]))
    assert lookups == ["aesweep"]  # the experiment is resolved once per job
    (run,) = runs_in(tmp_path)
    assert run.info.status == "FINISHED" and run.info.run_name == "epochs=1"
    assert outcome.run_id == run.info.run_id and outcome.main_metric == "accuracy"
    assert run.data.metrics["encoded_accuracy"] == outcome.test
    assert run.data.metrics["val_encoded_accuracy"] == outcome.validation
    assert outcome.higher_is_better and run.data.tags["aesweep.validation"] == "holdout"
    tags = run.data.tags
    assert (tags[TASK_TAG], tags[MAIN_METRIC_TAG], tags[DATASET_TAG]) == (
        "classification", "accuracy", "synthetic_classification")
    assert len(tags[HASH_TAG]) == 16 and PARENT_TAG not in tags and JOB_NUM_TAG not in tags
    assert (tmp_path / "checkpoints").is_dir()  # under paths.root


def test_a_relative_root_is_taken_from_the_launch_dir(tmp_path: Path) -> None:
    cfg = compose_config([*FAST, "paths.root=rel/out"])
    run_task(cfg, JobContext(launch_dir=str(tmp_path)))
    assert cfg.paths.root == str(tmp_path / "rel" / "out")
    assert len(runs_in(tmp_path / "rel" / "out")) == 1


def test_a_multirun_job_skips_a_config_that_already_finished(tmp_path: Path) -> None:
    cfg = compose_config([*FAST, f"paths.root={tmp_path}"])
    first = run_task(cfg, JobContext(job_num=0))
    store = open_store(cfg.tracking)
    parent = start_sweep_run(store, Redactor(), "sweep", {})
    again = compose_config([*FAST, f"paths.root={tmp_path}",
                            f"tracking.parent_run_id={parent}"])
    reused = run_task(again, JobContext(job_num=3))
    assert (reused.run_id, reused.test, reused.validation) == (
        first.run_id, first.test, first.validation)
    runs = runs_in(tmp_path)
    assert len(runs) == 2  # the first job and the parent: nothing retrained
    (earlier,) = [r for r in runs if r.info.run_id != parent]
    reused = store.client.get_run(parent).data.tags[f"{REUSED_TAG_PREFIX}3"]
    assert reused == earlier.info.run_id
    # sweep.skip_finished=false runs it again.
    forced = compose_config([*FAST, f"paths.root={tmp_path}", "sweep.skip_finished=false"])
    run_task(forced, JobContext(job_num=0))
    assert len(runs_in(tmp_path)) == 3


def test_a_job_that_fails_after_its_run_started(tmp_path: Path, monkeypatch) -> None:
    def broken(job, on_epoch=None):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(task, "run_job", broken)
    cfg = compose_config([*FAST, f"paths.root={tmp_path}"])
    assert run_task(cfg, JobContext(job_num=0)) is None  # a multirun goes on
    with pytest.raises(RuntimeError, match="disk caught fire"):  # a single run raises
        run_task(cfg, JobContext())
    runs = runs_in(tmp_path)
    assert [r.info.status for r in runs] == ["FAILED", "FAILED"]
    for run in runs:
        assert run.data.tags[ERROR_TAG] == "RuntimeError: the disk caught fire"


def test_bad_input_in_a_multirun_is_a_failed_run(tmp_path: Path) -> None:
    cfg = compose_config([*FAST, f"paths.root={tmp_path}", "architecture.bottleneck=0",
                          "sweep.swept_keys=[architecture.bottleneck]"])
    overrides = ["architecture.bottleneck=0", "trainer.epochs=1"]
    assert run_task(cfg, JobContext(overrides=overrides, job_num=1)) is None
    (run,) = runs_in(tmp_path)
    assert run.info.status == "FAILED" and run.info.run_name == "bottleneck=0"
    assert run.data.tags[ERROR_TAG] == \
        "ConfigError: architecture.bottleneck: must be >= 1, got 0"
    with pytest.raises(ConfigError):
        run_task(cfg, JobContext())
    assert len(runs_in(tmp_path)) == 1  # a single run fails before any MLflow run


def test_a_run_left_running_by_a_dead_process_is_marked_failed(tmp_path: Path) -> None:
    cfg = compose_config([*FAST, f"paths.root={tmp_path}"])
    store = open_store(cfg.tracking)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = owner_tags()
    tags = {HASH_TAG: "abc", HOST_TAG: mine[HOST_TAG], PID_TAG: str(dead.pid),
            PID_STARTED_TAG: "0.0"}
    stale = create_run(store, Redactor(), "stale", tags)
    alive = create_run(store, Redactor(), "alive", {**mine, HASH_TAG: "def"})
    previous = find_previous(store.client, store.experiment_id, "abc")
    assert previous.stale == [stale] and previous.finished is None
    run = store.client.get_run(stale)
    assert run.info.status == "FAILED" and "died" in run.data.tags[STALE_TAG]
    # This process's own RUNNING run is alive: neither stale nor "elsewhere".
    mine_now = find_previous(store.client, store.experiment_id, "def")
    assert mine_now.stale == [] and mine_now.running_elsewhere is None
    assert store.client.get_run(alive).info.status == "RUNNING"


def test_a_run_on_another_host_is_stale_once_its_sweep_has_ended(tmp_path: Path) -> None:
    """A host's pids say nothing about another host's: there a RUNNING child is stale only
    when its sweep has ended (its driver is done with every job)."""
    store = open_store(compose_config([*FAST, f"paths.root={tmp_path}"]).tracking)
    elsewhere = {HOST_TAG: "another-node", PID_TAG: "1", PID_STARTED_TAG: "0.0"}
    for sweep_status, hash_ in (("RUNNING", "live"), ("FAILED", "over")):
        parent = create_run(store, Redactor(), "sweep", owner_tags())
        child = create_run(store, Redactor(), "job", {**elsewhere, HASH_TAG: hash_,
                                                       PARENT_TAG: parent})
        if sweep_status != "RUNNING":
            store.client.set_terminated(parent, sweep_status)
        previous = find_previous(store.client, store.experiment_id, hash_)
        if sweep_status == "RUNNING":
            assert previous.stale == [] and store.client.get_run(child).info.status == "RUNNING"
        else:
            assert previous.stale == [child]
            assert "ended" in store.client.get_run(child).data.tags[STALE_TAG]


def test_checkpoints_can_travel_through_the_artifact_store(tmp_path: Path) -> None:
    """tracking.checkpoints=artifacts (the default with a server): a longer job resumes from
    the checkpoint a shorter one uploaded, and nothing is written to paths.checkpoints."""
    shared = [*FAST, f"paths.root={tmp_path}", "tracking.checkpoints=artifacts",
              "sweep.epochs=[1,2]"]
    run_task(compose_config([*shared, "trainer.epochs=1"]), JobContext(job_num=0))
    run_task(compose_config([*shared, "trainer.epochs=2"]), JobContext(job_num=1))
    short, long = sorted(runs_in(tmp_path), key=lambda r: r.data.params["trainer.epochs"])
    assert short.data.tags[CHECKPOINT_EPOCHS_TAG] == "1"
    assert long.data.tags[CHECKPOINT_SOURCE_TAG] == short.info.run_id
    assert long.data.tags[RESUMED_TAG] == "1"
    assert long.data.tags[CHECKPOINT_EPOCHS_TAG] == "2"  # only what it trained itself
    assert long.data.tags[TRAIN_HASH_TAG] == short.data.tags[TRAIN_HASH_TAG]
    assert long.data.tags[HASH_TAG] != short.data.tags[HASH_TAG]
    assert not (tmp_path / "checkpoints").exists()
    # The logged config shows paths.checkpoints as configured, not the scratch directory.
    config = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").download_artifacts(
        long.info.run_id, "config/config.yaml", str(tmp_path))
    assert f"checkpoints: {tmp_path}/checkpoints" in Path(config).read_text()


def test_the_driver_closes_runs_whose_jobs_died(tmp_path: Path) -> None:
    """Once every job returned: a child still RUNNING ends FAILED with the launcher's
    reason, and a job lost before it created a run gets a FAILED run."""
    store = open_store(compose_config([*FAST, f"paths.root={tmp_path}"]).tracking)
    parent = create_run(store, Redactor(), "sweep", owner_tags())
    running = create_run(store, Redactor(), "bottleneck=3",
                         {PARENT_TAG: parent, JOB_NUM_TAG: "0"})
    lost = {0: ("bottleneck=3", "NodeDiedError: node 1a2b died"),
            1: ("bottleneck=5", "WorkerCrashedError: the worker died")}
    assert close_orphans(store, Redactor(), parent, "FAILED", lost) == 2
    runs = {r.info.run_name: r for r in runs_in(tmp_path) if r.info.run_id != parent}
    assert runs["bottleneck=3"].info.run_id == running
    assert runs["bottleneck=3"].data.tags[ERROR_TAG] == "NodeDiedError: node 1a2b died"
    assert runs["bottleneck=5"].data.tags[ERROR_TAG] == "WorkerCrashedError: the worker died"
    assert runs["bottleneck=5"].data.tags[JOB_NUM_TAG] == "1"
    assert {r.info.status for r in runs.values()} == {"FAILED"}
