"""Sweeps survive failures, interruptions and parallel workers: tested for real, with
subprocesses that get killed, terminated and re-run against one SQLite store."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.names import ROLE_TAG

from helpers import (
    TINY,
    aesweep_command,
    clean_env,
    run_cli,
    run_statuses,
    store_args,
    store_uri,
)

pytestmark = pytest.mark.slow

GRID = ["architecture.bottleneck=2,4", "trainer.epochs=1,3", "evaluation.bootstrap_resamples=50",
        "tracking.log_model=false", *TINY]


def _runs(root: Path) -> list:
    client = MlflowClient(store_uri(root))
    experiment = client.get_experiment_by_name("aesweep")
    return client.search_runs([experiment.experiment_id], max_results=1000)


def _jobs(runs: list) -> list:
    return [r for r in runs if ROLE_TAG not in r.data.tags]


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s")


def test_kill_9_then_rerun_finishes_every_grid_point_once(tmp_path: Path) -> None:
    args = ["-m", *GRID, *store_args(tmp_path)]
    first = subprocess.Popen([*aesweep_command(), *args], cwd=tmp_path, env=clean_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: "FINISHED" in run_statuses(tmp_path / "mlflow.db"), timeout=240)
    finally:
        first.kill()  # SIGKILL: nothing gets to clean up
        first.wait()
    finished_before = {r.info.run_id: r.data.tags["config_hash"]
                       for r in _jobs(_runs(tmp_path)) if r.info.status == "FINISHED"}
    assert finished_before

    second = run_cli(args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("skip ") + second.stderr.count("skip ") >= len(finished_before)

    runs = _runs(tmp_path)
    assert all(r.info.status != "RUNNING" for r in runs)
    finished = [r for r in _jobs(runs) if r.info.status == "FINISHED"]
    grid = [(r.data.params["architecture.bottleneck"], r.data.params["trainer.epochs"])
            for r in finished]
    assert sorted(grid) == [("2", "1"), ("2", "3"), ("4", "1"), ("4", "3")]  # once each
    # The jobs that finished before the kill were not retrained.
    assert set(finished_before) <= {r.info.run_id for r in finished}
    # A job killed mid-run, if any, was detected as stale and marked FAILED.
    for run in _jobs(runs):
        if run.info.status == "FAILED":
            assert "died" in run.data.tags["aesweep.stale"]
    parents = [r for r in runs if ROLE_TAG in r.data.tags]
    assert sorted(p.info.status for p in parents) == ["FAILED", "FINISHED"]


def test_sigterm_marks_the_run_and_its_sweep_killed(tmp_path: Path) -> None:
    args = ["-m", "architecture.bottleneck=2,4", "trainer.epochs=400", "tracking.log_model=false",
            *TINY, *store_args(tmp_path)]
    proc = subprocess.Popen([*aesweep_command(), *args], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: run_statuses(tmp_path / "mlflow.db").count("RUNNING") == 2, 240)
        time.sleep(2)  # inside model.fit
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert elapsed < 30
    statuses = sorted(run_statuses(tmp_path / "mlflow.db"))
    assert statuses == ["KILLED", "KILLED"]  # the job and its sweep; nothing RUNNING


def test_a_failing_job_does_not_stop_the_sweep(tmp_path: Path) -> None:
    result = run_cli(["-m", "architecture.bottleneck=2,0,4", "trainer.epochs=1",
                      "tracking.log_model=false", "evaluation.bootstrap_resamples=0", *TINY,
                      *store_args(tmp_path)], cwd=tmp_path)
    assert result.returncode == 1
    assert "1 job(s) failed" in result.stderr
    assert "bottleneck=0: ConfigError: architecture.bottleneck: must be >= 1" in result.stderr
    assert "Traceback" not in result.stderr
    runs = _runs(tmp_path)
    jobs = {r.data.params.get("architecture.bottleneck", r.info.run_name): r for r in _jobs(runs)}
    assert jobs["2"].info.status == jobs["4"].info.status == "FINISHED"
    (failed,) = [r for r in _jobs(runs) if r.info.status == "FAILED"]
    assert failed.data.tags["error"].startswith("ConfigError: architecture.bottleneck")
    (parent,) = [r for r in runs if ROLE_TAG in r.data.tags]
    assert parent.info.status == "FAILED"


def test_parallel_workers_on_a_fresh_store_then_skip_on_rerun(tmp_path: Path) -> None:
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
            "architecture.bottleneck=2,4,8", "seed=0,1", "trainer.epochs=1",
            "tracking.log_model=false", "evaluation.bootstrap_resamples=0", *TINY,
            *store_args(tmp_path)]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    for text in (first.stdout, first.stderr):
        assert "database is locked" not in text and "Traceback" not in text
    jobs = _jobs(_runs(tmp_path))
    assert len(jobs) == 6 and {r.info.status for r in jobs} == {"FINISHED"}
    assert len({r.data.tags["aesweep.pid"] for r in jobs}) == 2  # two worker processes

    second = run_cli(args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (second.stdout + second.stderr).count("already FINISHED") == 6
    assert len(_jobs(_runs(tmp_path))) == 6  # nothing retrained
    assert "6 jobs" in second.stdout  # the table still lists every job


def test_values_from_the_environment_are_never_logged(tmp_path: Path) -> None:
    result = run_cli(["trainer.epochs=1", "tracking.log_model=false", *TINY,
                      "+api_key=${oc.env:AESWEEP_TEST_SECRET}", "+derived=x-${api_key}",
                      *store_args(tmp_path)], cwd=tmp_path,
                     env={"AESWEEP_TEST_SECRET": "hunter2-secret"})
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = _runs(tmp_path)
    assert run.data.params["api_key"] == run.data.params["derived"] == "<from environment>"
    assert all("hunter2" not in value for value in run.data.params.values())
    client = MlflowClient(store_uri(tmp_path))
    config = Path(client.download_artifacts(run.info.run_id, "config/config.yaml", str(tmp_path)))
    assert "hunter2" not in config.read_text()


def test_unreachable_tracking_server_fails_within_30_seconds(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli(["trainer.epochs=1", *TINY, "tracking.uri=http://127.0.0.1:9",
                      f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert time.monotonic() - started < 30
    assert result.returncode == 2
    assert "tracking.uri=http://127.0.0.1:9: cannot reach the tracking server" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("mode", [[], ["-m"]])
def test_output_dir_that_cannot_be_created(tmp_path: Path, mode: list[str]) -> None:
    (tmp_path / "outputs").write_text("a file where the outputs directory should be")
    result = run_cli([*mode, "trainer.epochs=1", *TINY], cwd=tmp_path)
    assert result.returncode == 2
    assert f"{tmp_path / 'outputs'} is not a directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "outputs" / "mlflow.db")
