"""End to end: a regression job through the real CLI (``dataset=diabetes``).

Proves that the dataset decides the task, a regression set gets a regressor by default,
regression metrics (``mae``, ``rmse``, ``r2``) are logged for raw and encoded features
and classification metrics are not, and ``tracking.log_model=false`` skips the model.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from helpers import describe, run_cli, store_args, store_uri

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("cli_regression"),
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

EPOCHS = 2
REGRESSORS = {"linear_regression", "ridge", "svr", "random_forest_regressor"}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("regression")
    result = run_cli([*store_args(root), "dataset=diabetes", "architecture.bottleneck=3",
                      f"trainer.epochs={EPOCHS}", "tracking.log_model=false"], cwd=root)
    assert result.returncode == 0, describe(result)
    client = MlflowClient(store_uri(root))
    experiment = client.get_experiment_by_name("aesweep")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return SimpleNamespace(result=result, client=client, experiment=experiment, run=runs[0])


def test_finished_with_a_regressor_by_default(job):
    assert job.run.info.status == "FINISHED"
    params = job.run.data.params
    assert params["dataset.name"] == "diabetes"
    assert params["downstream.name"] in REGRESSORS
    assert params["downstream.name"] == "linear_regression"
    assert job.run.data.tags["aesweep.task"] == "regression"


def test_regression_metrics_in_target_units(job):
    metrics = job.run.data.metrics
    for prefix in ("raw", "encoded"):
        for name in ("mae", "rmse", "r2"):
            assert np.isfinite(metrics[f"{prefix}_{name}"]), f"{prefix}_{name}"
        assert metrics[f"{prefix}_rmse"] >= metrics[f"{prefix}_mae"] > 5  # diabetes units
        assert metrics[f"{prefix}_r2"] <= 1
    assert metrics["raw_r2"] > 0.2  # linear regression on diabetes explains something
    assert not any(key.endswith(("_accuracy", "_roc_auc", "_f1")) for key in metrics)
    assert len(job.client.get_metric_history(job.run.info.run_id, "train_loss")) == EPOCHS


def test_log_model_false_logs_no_model(job):
    models = job.client.search_logged_models(experiment_ids=[job.experiment.experiment_id])
    assert len(models) == 0
    paths = {a.path for a in job.client.list_artifacts(job.run.info.run_id)}
    assert {"config", "plots"} <= paths
