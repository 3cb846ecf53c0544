"""aesweep against the team tracking server (PostgreSQL, basic auth, proxied artifacts):
credentials from the environment, one-line errors before any training, the report
unchanged, and a server restart in the middle of a sweep."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.names import PARENT_TAG, TRAIN_LOSS, VAL_LOSS

from helpers import TINY, aesweep_command, clean_env, describe, run_cli, store_args

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]

KEYS = "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD"


@pytest.fixture
def client(tracking_server, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    for key, value in tracking_server.client_env().items():
        monkeypatch.setenv(key, value)
    return MlflowClient(tracking_server.url)


def run_count(client: MlflowClient) -> int:
    experiment = client.get_experiment_by_name("aesweep")
    return len(client.search_runs([experiment.experiment_id], max_results=5000)) if (
        experiment) else 0


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "multirun"])
@pytest.mark.parametrize(("login", "says"), [
    ({}, "requires a login; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in "
         "the environment"),
    ({"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "wrong"},
     "rejected this username and password (401)"),
], ids=["missing", "wrong"])
def test_a_missing_or_wrong_password_is_one_line_before_any_training(
        tracking_server, client, tmp_path: Path, login, says, multirun) -> None:
    before = run_count(client)
    env = {"MLFLOW_TRACKING_URI": tracking_server.url, "MLFLOW_TRACKING_USERNAME": "",
           "MLFLOW_TRACKING_PASSWORD": "", **login}
    args = ["-m", "seed=0,1"] if multirun else []
    result = run_cli([*args, "tracking=server", *TINY, *store_args(tmp_path)], cwd=tmp_path,
                     env=env, timeout=120)
    assert result.returncode == 2, describe(result)
    assert result.stderr.strip().splitlines()[-1] == (
        f"aesweep: error: {KEYS}: the tracking server {tracking_server.url} {says}"), describe(
        result)
    assert "Traceback" not in result.stderr
    assert "wrong" not in result.stdout + result.stderr  # the password is never printed
    assert run_count(client) == before


def test_the_report_reads_the_server_unchanged(tracking_server, client, tmp_path: Path) -> None:
    result = run_cli(["-m", *TINY, "architecture.bottleneck=3,5", "trainer.epochs=1",
                      "seed=21", "tracking=server", "evaluation.bootstrap_resamples=0",
                      *store_args(tmp_path)], cwd=tmp_path, env=tracking_server.client_env())
    assert result.returncode == 0, describe(result)
    parent = next(line.split()[1].rstrip(":") for line in result.stdout.splitlines()
                  if line.startswith("sweep ") and line.endswith("jobs"))
    report = run_cli(["--sweep", parent], cwd=tmp_path, env=tracking_server.client_env(),
                     program="aesweep-report")
    assert report.returncode == 0, describe(report)
    assert f"sweep {parent}" in report.stdout and "best on validation: bottleneck" in report.stdout


def test_a_server_restart_in_the_middle_of_a_sweep_loses_no_run(
        tracking_server, client, tmp_path: Path) -> None:
    args = ["-m", "dataset.n_samples=3000", "dataset.n_features=20", "trainer.epochs=30",
            "trainer.batch_size=16", "architecture.bottleneck=3,5", "seed=31",
            "tracking=server", "evaluation.bootstrap_resamples=0", *store_args(tmp_path)]
    sweep = subprocess.Popen([*aesweep_command(), *args], cwd=tmp_path, text=True,
                             env=clean_env(tracking_server.client_env()),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not any(r.info.status == "RUNNING" and r.data.params.get("seed") == "31"
                      for r in (client.search_runs([client.get_experiment_by_name(
                          "aesweep").experiment_id]) if client.get_experiment_by_name(
                          "aesweep") else [])):
            assert time.monotonic() < deadline and sweep.poll() is None, sweep.communicate()
            time.sleep(0.2)
        tracking_server.stop()  # while the first job trains
        time.sleep(2)
        tracking_server.start()
        out, err = sweep.communicate(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    result = subprocess.CompletedProcess(sweep.args, sweep.returncode, out, err)
    assert sweep.returncode == 0, describe(result)
    runs = [r for r in client.search_runs([client.get_experiment_by_name(
        "aesweep").experiment_id]) if r.data.params.get("seed") == "31" and PARENT_TAG in
        r.data.tags]
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:  # every epoch of both curves, and the final metrics
        for key in (TRAIN_LOSS, VAL_LOSS):
            assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == list(
                range(1, 31)), key
        assert "encoded_accuracy" in run.data.metrics
