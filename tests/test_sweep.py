"""A real multirun: one parent run per sweep, children with every control, and the
parent's status following its children."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from helpers import TINY, run_cli, store_args, store_uri

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sweep")]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("sweep")
    result = run_cli(["-m", "architecture.bottleneck=2,4", "seed=0,1", "trainer.epochs=2",
                      "evaluation.bootstrap_resamples=200", *TINY, *store_args(root)], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result.stdout


def _runs(root: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(store_uri(root))
    experiment = client.get_experiment_by_name("aesweep")
    return client, client.search_runs([experiment.experiment_id])


def test_one_parent_with_four_finished_children(sweep: tuple[Path, str]) -> None:
    _, runs = _runs(sweep[0])
    parents = [r for r in runs if r.data.tags.get("aesweep.role") == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in parent.data.tags
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4 == len(runs) - 1
    assert {c.info.status for c in children} == {"FINISHED"}
    assert {c.data.tags["aesweep.sweep_id"] for c in children} == {parent.info.run_id}
    grid = {(c.data.params["architecture.bottleneck"], c.data.params["seed"]) for c in children}
    assert grid == {("2", "0"), ("2", "1"), ("4", "0"), ("4", "1")}


def test_parent_params_hold_overrides_and_grid(sweep: tuple[Path, str]) -> None:
    _, runs = _runs(sweep[0])
    (parent,) = [r for r in runs if r.data.tags.get("aesweep.role") == "sweep"]
    params = parent.data.params
    assert params["sweep.grid.architecture.bottleneck"] == "2,4"
    assert params["sweep.grid.seed"] == "0,1"
    assert "trainer.epochs=2" in params["sweep.overrides"]
    assert "tracking.uri" not in params["sweep.overrides"]


def test_children_carry_controls_deltas_and_paired_stats(sweep: tuple[Path, str]) -> None:
    _, runs = _runs(sweep[0])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    for child in children:
        m = child.data.metrics
        for feature_set in ("raw", "encoded", "pca", "random"):
            for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
                assert f"{feature_set}_{metric}" in m
        assert m["delta_vs_raw"] == pytest.approx(m["encoded_accuracy"] - m["raw_accuracy"])
        assert m["delta_vs_pca"] == pytest.approx(m["encoded_accuracy"] - m["pca_accuracy"])
        assert m["ci_low_vs_raw"] <= m["delta_vs_raw"] <= m["ci_high_vs_raw"]
        assert 0 <= m["mcnemar_p_vs_raw"] <= 1
        assert child.data.tags["aesweep.main_metric"] == "accuracy"
        # Children are named by the swept keys only.
        assert child.info.run_name == (f"bottleneck={child.data.params['architecture.bottleneck']}"
                                       f" seed={child.data.params['seed']}")


def test_untrained_control_differs_from_trained_encoder(sweep: tuple[Path, str]) -> None:
    _, runs = _runs(sweep[0])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    # Same architecture and seed, but only one was trained: their test scores differ
    # somewhere (roc_auc is continuous, so exact ties across 4 runs would mean no training).
    assert any(c.data.metrics["encoded_roc_auc"] != c.data.metrics["random_roc_auc"]
               for c in children)


def test_sweep_prints_a_table_of_every_job(sweep: tuple[Path, str]) -> None:
    stdout = sweep[1]
    assert "encoded_accuracy" in stdout
    table = stdout[stdout.index(": 4 jobs\n"):].split("\n\n")[0].splitlines()
    rows = [row for row in table if " FINISHED " in row]
    assert len(rows) == 4 and "recon_mse_test" in table[1]


def test_a_failed_job_fails_the_parent(tmp_path: Path) -> None:
    result = run_cli(["-m", "architecture.bottleneck=2,0", "trainer.epochs=1",
                      "evaluation.controls=[]", "tracking.log_model=false", *TINY,
                      *store_args(tmp_path)], cwd=tmp_path)
    assert result.returncode != 0
    assert "architecture.bottleneck" in result.stderr
    _, runs = _runs(tmp_path)
    (parent,) = [r for r in runs if r.data.tags.get("aesweep.role") == "sweep"]
    assert parent.info.status == "FAILED"
    assert all(r.info.status != "RUNNING" for r in runs)
