"""End to end: a 2x2 multirun through the real CLI, verified through MLflow.

``-m architecture.bottleneck=2,4 trainer.epochs=1,2`` against a temporary SQLite store:
four FINISHED job runs, one per grid point, each with its own params and a
``train_loss`` history as long as its epochs; the sweep table at the end lists four rows;
nothing is left RUNNING.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from helpers import TINY, describe, run_cli, store_args, store_uri

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("cli_multirun"),
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

BOTTLENECKS, EPOCHS = (2, 4), (1, 2)
GRID = set(itertools.product(BOTTLENECKS, EPOCHS))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("multirun")
    result = run_cli(["-m", *store_args(root), *TINY, "tracking.log_model=false",
                      f"architecture.bottleneck={','.join(map(str, BOTTLENECKS))}",
                      f"trainer.epochs={','.join(map(str, EPOCHS))}"], cwd=root)
    assert result.returncode == 0, describe(result)
    client = MlflowClient(store_uri(root))
    experiment = client.get_experiment_by_name("aesweep")
    runs = client.search_runs([experiment.experiment_id])
    # Job runs carry the config as params; a sweep may add a parent run that does not.
    jobs = [run for run in runs if "architecture.bottleneck" in run.data.params]
    return SimpleNamespace(result=result, client=client, runs=runs, jobs=jobs)


def grid_point(run) -> tuple[int, int]:
    params = run.data.params
    return int(params["architecture.bottleneck"]), int(params["trainer.epochs"])


def test_four_finished_job_runs_one_per_grid_point(sweep):
    assert len(sweep.jobs) == 4
    assert {grid_point(run) for run in sweep.jobs} == GRID
    assert all(run.info.status == "FINISHED" for run in sweep.jobs)


def test_nothing_is_left_running(sweep):
    assert sweep.runs
    assert all(run.info.status == "FINISHED" for run in sweep.runs)


def test_each_run_holds_its_own_params_and_name(sweep):
    for run in sweep.jobs:
        bottleneck, epochs = grid_point(run)
        params = run.data.params
        assert params["dataset.n_samples"] == "300"
        assert params["dataset.name"] == "synthetic_classification"
        assert "tracking.uri" not in params
        assert f"bottleneck={bottleneck}" in run.info.run_name
        assert f"epochs={epochs}" in run.info.run_name


def test_train_loss_history_matches_each_runs_epochs(sweep):
    for run in sweep.jobs:
        _, epochs = grid_point(run)
        for key in ("train_loss", "val_loss"):
            history = sweep.client.get_metric_history(run.info.run_id, key)
            assert len(history) == epochs, (run.info.run_name, key)
        for key in ("recon_mse_test", "raw_accuracy", "encoded_accuracy"):
            assert key in run.data.metrics


def tables(stdout: str) -> list[list[tuple[int, int]]]:
    """(bottleneck, epochs) of the rows under every header naming both columns (the
    report's leading "best" column is blank but for the chosen cell's ``*``)."""
    lines = stdout.splitlines()
    found = []
    for i, line in enumerate(lines):
        columns = line.split()
        if not {"bottleneck", "epochs"} <= set(columns):
            continue
        columns = [c for c in columns if c != "best"]
        b, e = columns.index("bottleneck"), columns.index("epochs")
        rows = []
        for row in lines[i + 1:]:
            cells = row.split()
            cells = cells[1:] if cells[:1] == ["*"] else cells
            if len(cells) <= max(b, e) or not (cells[b].isdigit() and cells[e].isdigit()):
                break
            rows.append((int(cells[b]), int(cells[e])))
        found.append(rows)
    return found


def test_sweep_table_lists_every_job(sweep):
    found = tables(sweep.result.stdout)
    assert found, describe(sweep.result)
    # The compact sweep table comes first; any later report tables must agree with it.
    for rows in found:
        assert len(rows) == 4, describe(sweep.result)
        assert set(rows) == GRID


def test_the_ui_draws_each_epoch_count_in_its_own_colour(sweep):
    """The comparison view's scatter reads as one series per epoch count."""
    colours: dict[int, set[str]] = {}
    for run in sweep.jobs:
        colours.setdefault(grid_point(run)[1], set()).add(run.data.tags["mlflow.runColor"])
    assert len(colours) > 1 and all(len(c) == 1 for c in colours.values())
    assert len(set.union(*colours.values())) == len(colours)
