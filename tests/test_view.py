"""The sweep's comparison view in the MLflow UI: its state, its tag and its link.

What a browser makes of it is checked in ``test_ui_browser.py``; here, what aesweep stores.
"""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from aesweep.report import main
from aesweep.tracking.view import (
    LOCAL_UI,
    VIEW_TAG_PREFIX,
    epoch_color,
    publish,
    share_key,
    sweep_view,
    ui_base,
    view_url,
)
from test_report import classification_metrics, log_sweep


def _cards(state: dict) -> dict[str, dict]:
    return {card["uuid"]: card for card in state["compareRunCharts"]}


def test_the_view_plots_the_main_metric_and_reconstruction_against_the_bottleneck() -> None:
    state = sweep_view("p1", "rmse", ["architecture.bottleneck", "trainer.epochs", "seed"], 250)
    cards = _cards(state)
    for uuid, y in (("aesweep-metric", "encoded_rmse"), ("aesweep-recon", "recon_mse_test")):
        assert cards[uuid]["type"] == "SCATTER"
        assert cards[uuid]["xaxis"] == {"key": "architecture.bottleneck", "type": "PARAM"}
        assert cards[uuid]["yaxis"] == {"key": y, "type": "METRIC"}
        assert cards[uuid]["runsCountToCompare"] == 250  # every job, not MLflow's first 100
    parallel = cards["aesweep-parallel"]
    assert parallel["selectedParams"] == ["architecture.bottleneck", "trainer.epochs", "seed"]
    assert parallel["selectedMetrics"] == ["encoded_rmse", "delta_vs_pca"]
    assert [cards[u]["metricKey"] for u in ("aesweep-train-loss", "aesweep-val-loss")] == [
        "train_loss", "val_loss"]
    assert {c["metricSectionId"] for c in cards.values()} == {"aesweep-sweep"}


def test_the_view_shows_this_sweeps_jobs_with_the_swept_keys_as_columns() -> None:
    state = sweep_view("abc123", "accuracy", ["optimizer.name", "trainer.epochs"], 4)
    assert state["searchFilter"] == "tags.`mlflow.parentRunId` = 'abc123'"
    assert state["selectedColumns"][:3] == ["params.`architecture.bottleneck`",
                                            "params.`trainer.epochs`", "params.`optimizer.name`"]
    assert "metrics.`encoded_accuracy`" in state["selectedColumns"]
    assert "metrics.`val_encoded_accuracy`" in state["selectedColumns"]
    assert state["groupBy"]["groupByKeys"] == [{"mode": "param",
                                                "groupByData": "trainer.epochs"}]
    assert state["runsHiddenMode"] == "SHOW_ALL" and state["useGroupedValuesInCharts"] is False


def test_a_sweep_over_architectures_is_grouped_by_architecture() -> None:
    state = sweep_view("abc123", "accuracy", ["architecture", "architecture.bottleneck",
                                              "trainer.epochs", "seed"], 24)
    assert state["selectedColumns"][:4] == ["params.`architecture.bottleneck`",
                                            "params.`trainer.epochs`",
                                            "params.`architecture.name`", "params.`seed`"]
    assert "params.`architecture`" not in state["selectedColumns"]  # a group, not a param
    assert state["groupBy"]["groupByKeys"] == [{"mode": "param",
                                                "groupByData": "architecture.name"}]
    assert "architecture.name" in _cards(state)["aesweep-parallel"]["selectedParams"]


def test_one_colour_per_epoch_count() -> None:
    colours = [epoch_color(e, [20, 5, 10]) for e in (5, 10, 20)]
    assert len(set(colours)) == 3 and all(c and c.startswith("#") for c in colours)
    assert epoch_color(5, [20, 10, 5]) == colours[0]  # the order given does not matter
    assert epoch_color(7, [5, 10]) is None and epoch_color(5, []) is None


def test_links_name_the_ui_and_never_credentials() -> None:
    assert ui_base("sqlite:////x/mlflow.db") == LOCAL_UI
    assert ui_base("https://alice:s3cret@mlflow.example.org:8443/") == \
        "https://mlflow.example.org:8443"
    url = view_url("http://h:5001", "7", "aesweep-p")
    assert url == ("http://h:5001/#/experiments/7/runs?workflowType=machine_learning"
                   "&viewStateShareKey=aesweep-p&compareRunsMode=CHART")


@pytest.fixture
def sweep(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("aesweep", (tmp_path / "mlartifacts").as_uri())
    jobs = [({"architecture.bottleneck": b, "trainer.epochs": e, "seed": 0},
             classification_metrics(b, e, 0), "FINISHED") for b in (4, 16) for e in (5, 20)]
    parent = log_sweep(client, experiment, 1_000, "", jobs, "classification", "f1")
    client.log_param(parent, "sweep.grid.architecture.bottleneck", "4,16")
    client.log_param(parent, "sweep.grid.trainer.epochs", "5,20")
    return uri, client, experiment, parent


def test_publish_stores_the_view_as_an_experiment_tag(sweep) -> None:
    uri, client, experiment, parent = sweep
    url = publish(client, experiment, parent, uri)
    assert url == view_url(LOCAL_UI, experiment, share_key(parent))
    state = json.loads(client.get_experiment(experiment).tags[
        VIEW_TAG_PREFIX + share_key(parent)])
    assert state == sweep_view(parent, "f1", ["architecture.bottleneck", "trainer.epochs"], 4)


def test_report_ui_url_prints_the_link_only(sweep, capsys, monkeypatch, tmp_path) -> None:
    uri, _, experiment, parent = sweep
    monkeypatch.chdir(tmp_path)
    assert main(["--tracking-uri", uri, "--ui-url"]) == 0
    assert capsys.readouterr().out.strip() == view_url(LOCAL_UI, experiment, share_key(parent))
    assert not (tmp_path / "outputs" / "reports").exists()  # no report was written
