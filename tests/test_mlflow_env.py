"""A user whose shell sets MLflow's own variables: ``MLFLOW_TRACKING_URI`` is where
``aesweep`` and ``aesweep-report`` both log and read; ``MLFLOW_RUN_ID`` cannot redirect
a job's logging or re-parent its run (mlflow issue 15713): aesweep ignores it, and says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.names import PARENT_TAG, ROLE_TAG

from helpers import TINY, describe, run_cli

pytestmark = pytest.mark.slow

FAST = ["architecture.bottleneck=2,4", "trainer.epochs=1", "tracking.log_model=false",
        "evaluation.bootstrap_resamples=0", *TINY]


def runs_of(uri: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name("aesweep").experiment_id])


def test_mlflow_tracking_uri_is_where_both_commands_go(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'elsewhere' / 'team.db'}"
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(["-m", *FAST], cwd=work, env={"MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, describe(result)
    assert not (work / "outputs" / "mlflow.db").exists()
    runs = runs_of(uri)
    (parent,) = [r for r in runs if ROLE_TAG in r.data.tags]
    assert len(runs) == 3
    assert "tracking.uri" not in parent.data.params["sweep.overrides"]
    report = run_cli([], cwd=work, env={"MLFLOW_TRACKING_URI": uri}, program="aesweep-report")
    assert report.returncode == 0, describe(report)
    assert f"sweep {parent.info.run_id} (aesweep" in report.stdout


def test_mlflow_run_id_is_ignored(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    client = MlflowClient(uri)
    outsider = client.create_run(client.create_experiment("other")).info.run_id
    result = run_cli(["-m", *FAST], cwd=tmp_path, env={"MLFLOW_RUN_ID": outsider})
    assert result.returncode == 0, describe(result)
    assert "MLFLOW_RUN_ID is set; aesweep ignores it" in result.stdout + result.stderr
    runs = runs_of(uri)
    (parent,) = [r for r in runs if ROLE_TAG in r.data.tags]
    children = [r for r in runs if r is not parent]
    assert len(children) == 2
    assert {c.data.tags[PARENT_TAG] for c in children} == {parent.info.run_id}
    untouched = client.get_run(outsider)
    assert untouched.info.status == "RUNNING" and not untouched.data.params
    assert not untouched.data.metrics and not untouched.inputs.dataset_inputs
