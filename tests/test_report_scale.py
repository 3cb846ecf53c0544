"""The report at scale: heatmaps past a handful of epoch counts, cell statistics computed
for all cells at once, reused runs read in batches, and the progress of reading on stderr.

Stores are synthetic (``bench/report_scale.py``): runs as a quickstart job logs them,
inserted in one transaction, so hundreds of runs take seconds and nothing trains.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PatchCollection, QuadMesh
from matplotlib.colors import CenteredNorm
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from scipy import stats

from aesweep.names import REUSED_TAG_PREFIX
from aesweep.report import build, build_report, main, sweep_members
from aesweep.report.model import QUANTITIES
from aesweep.report.plots import (
    MAX_EPOCH_LINES,
    MAX_HEATMAP_ROWS,
    NOT_SIGNIFICANT,
    metric_figure,
    recon_figure,
)
from aesweep.stats import t_interval

# bench/ is not a package; appended, its modules shadow nothing.
sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))
import report_scale

BOTTLENECKS = [2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]
MANY = [5 * (i + 1) for i in range(20)]  # 20 epoch counts
SEEDS = [0, 1, 2]


def grid(bottlenecks: list[int], epochs: list[int], seeds: list[int]) -> dict[str, list[int]]:
    return {"architecture.bottleneck": bottlenecks, "trainer.epochs": epochs, "seed": seeds}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One store, an experiment per case: ``many`` (20 epoch counts x 12 bottlenecks x
    3 seeds), ``few`` (MAX_EPOCH_LINES epoch counts), ``extra`` (MAX_EPOCH_LINES + 1 epoch
    counts x 4 optimizers)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'mlflow.db'}"
    report_scale.build_store(uri, grid(BOTTLENECKS, MANY, SEEDS), experiment="many")
    report_scale.build_store(uri, grid([4, 16, 64], MANY[:MAX_EPOCH_LINES], [0, 1]),
                             experiment="few")
    report_scale.build_store(uri, grid([4, 16, 64], MANY[:MAX_EPOCH_LINES + 1], [0, 1]),
                             {"optimizer.name": ["adam", "adamw", "rmsprop", "sgd"]},
                             experiment="extra")
    return {"uri": uri}


@pytest.fixture(scope="module")
def many(store: dict[str, str]):
    return build_report(store["uri"], "many")


def panels(fig) -> list:
    """The figure's plotting axes, colour bars left out."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def mesh_of(ax) -> QuadMesh:
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    return mesh


def pivot(cells: pd.DataFrame, column: str) -> np.ndarray:
    return cells.pivot(index="epochs", columns="bottleneck", values=column).sort_index(
        axis=0).sort_index(axis=1).to_numpy()


def test_many_epoch_counts_draw_heatmaps_beside_the_chosen_epoch_count(many):
    cells = many.cells
    assert len(cells) == len(BOTTLENECKS) * len(MANY) and (cells.seeds == len(SEEDS)).all()
    fig = metric_figure(many)
    metric, delta, lines = panels(fig)
    assert len(fig.axes) == 5  # and a colour bar per heatmap
    for ax in (metric, delta):
        assert "bottleneck" in ax.get_xlabel() and ax.get_ylabel() == "epochs"
        assert mesh_of(ax).get_array().shape == (len(MANY), len(BOTTLENECKS))
    np.testing.assert_allclose(mesh_of(metric).get_array().filled(np.nan),
                               pivot(cells, "encoded"))
    np.testing.assert_allclose(mesh_of(delta).get_array().filled(np.nan),
                               pivot(cells, "delta_vs_pca"))
    norm = mesh_of(delta).norm
    assert isinstance(norm, CenteredNorm) and norm.vcenter == 0
    assert mesh_of(delta).get_cmap().name == "RdBu"
    assert "PCA" in delta.get_title() and NOT_SIGNIFICANT in delta.get_title()
    best = cells.loc[many.best]
    assert f"at {best.epochs} epochs (best on validation)" in lines.get_title()
    labels = lines.get_legend_handles_labels()[1]
    assert [label for label in labels if label.startswith("autoencoder")] == [
        f"autoencoder, {best.epochs} epochs"]
    assert {"PCA, k = bottleneck", "untrained encoder"} <= set(labels)
    assert any(label.startswith("raw features: ") for label in labels)


def test_cells_whose_delta_interval_includes_zero_are_hatched(many):
    cells = many.cells
    unclear = ~((cells.delta_vs_pca_low > 0) | (cells.delta_vs_pca_high < 0))
    assert 0 < unclear.sum() < len(cells)  # the data has both kinds
    delta = panels(metric_figure(many))[1]
    (hatched,) = [c for c in delta.collections if isinstance(c, PatchCollection)]
    assert hatched.get_hatch() and hatched.get_label() == NOT_SIGNIFICANT
    corners = {tuple(np.round(path.vertices.min(axis=0)).astype(int))
               for path in hatched.get_paths()}
    b_index = {b: i for i, b in enumerate(BOTTLENECKS)}
    e_index = {e: i for i, e in enumerate(MANY)}
    assert corners == {(b_index[b], e_index[e])
                       for b, e in zip(cells.bottleneck[unclear], cells.epochs[unclear],
                                       strict=True)}


def test_many_epoch_counts_draw_a_heatmap_of_reconstruction_error(many):
    fig = recon_figure(many)
    heatmap, lines = panels(fig)
    assert len(fig.axes) == 3
    assert "bottleneck" in heatmap.get_xlabel() and heatmap.get_ylabel() == "epochs"
    np.testing.assert_allclose(mesh_of(heatmap).get_array().filled(np.nan),
                               pivot(many.cells, "recon_mse_test"))
    assert not lines.collections or not any(isinstance(c, QuadMesh) for c in lines.collections)


@pytest.mark.parametrize("figure", [metric_figure, recon_figure])
def test_a_handful_of_epoch_counts_keep_one_line_per_count(store, figure):
    report = build_report(store["uri"], "few")
    fig = figure(report)
    assert len(fig.axes) == 1
    (ax,) = fig.axes
    assert not any(isinstance(c, QuadMesh) for c in ax.collections)
    encoder = [label for label in ax.get_legend_handles_labels()[1] if "epochs" in label]
    assert len(encoder) == MAX_EPOCH_LINES


def test_extra_params_get_a_row_each_the_best_cells_first(store):
    report = build_report(store["uri"], "extra")
    assert report.extra == ["optimizer.name"]
    cells = report.cells
    report.best = int(cells.index[(cells["optimizer.name"] == "rmsprop")
                                  & (cells.bottleneck == 16)][0])
    fig = metric_figure(report)
    rows = [panels(fig)[i:i + 3] for i in range(0, len(panels(fig)), 3)]
    assert len(rows) == MAX_HEATMAP_ROWS
    titles = [row[0].get_title().splitlines()[0] for row in rows]
    assert titles == ["optimizer.name=rmsprop", "optimizer.name=adam", "optimizer.name=adamw"]
    assert "\u2605 best" in rows[0][0].get_title()
    assert "1 more setting of optimizer.name" in fig.get_suptitle()
    for metric, _, _ in rows:
        assert mesh_of(metric).get_array().shape == (MAX_EPOCH_LINES + 1, 3)


def _edit(job: report_scale.Job) -> report_scale.Job | None:
    """Gaps the statistics must handle: a one-seed cell, missing PCA scores, a cell whose
    encoded - raw differences do not vary."""
    name, tags, params, metrics = job
    b, e, seed = (int(params[k]) for k in ("architecture.bottleneck", "trainer.epochs", "seed"))
    if (b, e) == (4, 10) and seed > 0:
        return None
    metrics = dict(metrics)
    if (b, seed) == (16, 1):
        del metrics["pca_accuracy"]
    if (b, e) == (64, 5):
        metrics["raw_accuracy"] = metrics["encoded_accuracy"] - 0.01
    return name, tags, params, metrics


def test_cell_statistics_equal_a_per_cell_computation(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report_scale.build_store(uri, grid([4, 16, 64], MANY[:7], SEEDS), edit=_edit)
    report = build_report(uri)
    runs = report.runs.assign(b=pd.to_numeric(report.runs["architecture.bottleneck"]),
                              e=pd.to_numeric(report.runs["trainer.epochs"]))
    assert len(report.cells) == 3 * 7
    for cell in report.cells.itertuples():
        group = runs[(runs.b == cell.bottleneck) & (runs.e == cell.epochs)]
        assert cell.seeds == len(group)
        for q in QUANTITIES:
            mean, hw = t_interval(group[q].dropna())
            assert (getattr(cell, q), getattr(cell, f"{q}_ci")) == pytest.approx(
                (mean, hw), nan_ok=True), (cell.bottleneck, cell.epochs, q)
        if len(group) == 1:
            assert (cell.p_test, cell.p_value) == ("McNemar", group.mcnemar_p_vs_raw.iloc[0])
            assert cell.delta_vs_pca_low == group.ci_low_vs_pca.iloc[0]
            continue
        assert cell.delta_vs_pca_low == pytest.approx(cell.delta_vs_pca - cell.delta_vs_pca_ci,
                                                      nan_ok=True)
        varies = np.ptp(group.encoded - group.raw) > 1e-12
        p = stats.ttest_rel(group.encoded, group.raw).pvalue if varies else math.nan
        assert (cell.p_test, cell.p_value) == ("t", pytest.approx(p, nan_ok=True))
    assert report.cells.pca.isna().sum() == 0 and report.cells.pca_ci.notna().any()
    assert np.isnan(report.cells.set_index(["bottleneck", "epochs"]).p_value[(64, 5)])


def test_an_inserted_run_reads_back_as_a_logged_one(tmp_path):
    """The shortcut the synthetic stores take stores what MLflow's client would."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep_id = report_scale.build_store(uri, grid([8], [5], [0]))
    client = MlflowClient(uri)
    (inserted,) = sweep_members(client, client.get_run(sweep_id))
    data = inserted.data
    assert set(data.params) == set(report_scale.quickstart_params())
    logged = client.create_run(inserted.info.experiment_id, run_name=inserted.info.run_name,
                               tags=data.tags)
    client.log_batch(logged.info.run_id,
                     metrics=[Metric(k, v, 0, 0) for k, v in data.metrics.items()],
                     params=[Param(k, v) for k, v in data.params.items()])
    client.set_terminated(logged.info.run_id, "FINISHED")
    logged = client.get_run(logged.info.run_id)
    inserted = client.get_run(inserted.info.run_id)
    assert (logged.data.params, logged.data.tags, logged.data.metrics) == (
        data.params, data.tags, data.metrics)
    for field in ("status", "lifecycle_stage", "run_name", "experiment_id"):
        assert getattr(logged.info, field) == getattr(inserted.info, field), field
    assert inserted.info.artifact_uri.replace(inserted.info.run_id, "ID") == \
        logged.info.artifact_uri.replace(logged.info.run_id, "ID")


def test_reused_runs_are_read_in_batches_in_their_order(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    first = report_scale.build_store(uri, grid([4, 8], [5], [0, 1, 2]))
    elsewhere = report_scale.build_store(uri, grid([4], [5], [0]), experiment="elsewhere")
    second = report_scale.build_store(uri, grid([16], [5], [0, 1]))
    earlier = [r.info.run_id for r in sweep_members(client, client.get_run(first))]
    other = [r.info.run_id for r in sweep_members(client, client.get_run(elsewhere))]
    own = [r.info.run_id for r in sweep_members(client, client.get_run(second))]
    for job, run_id in enumerate([*earlier, *other, own[0]]):  # own[0]: counted once
        client.set_tag(second, f"{REUSED_TAG_PREFIX}{job}", run_id)
    monkeypatch.setattr(build, "REUSED_CHUNK", 2)
    pages: list[int] = []
    members = sweep_members(client, client.get_run(second), pages.append)
    assert [r.info.run_id for r in members] == own + sorted([*earlier, *other])
    assert sum(pages) == len(members)
    # a page of its own runs, the reused by twos, then the one from elsewhere
    assert len(pages) == 1 + math.ceil(len(earlier + other) / 2) + 1


def _report_args(uri: str, tmp_path: Path) -> list[str]:
    return ["--tracking-uri", uri, "--experiment", "few", "--out", str(tmp_path / "out")]


def test_reading_progress_goes_to_stderr_a_line_per_page_in_a_log(store, tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setattr(build, "PAGE_SIZE", 10)
    assert main(_report_args(store["uri"], tmp_path)) == 0
    out, err = capsys.readouterr()
    n_runs = 3 * MAX_EPOCH_LINES * 2
    read = [line for line in err.splitlines() if line.startswith("aesweep-report: read ")]
    assert [line.split()[2] for line in read] == [
        f"{n:,}" for n in (*range(10, n_runs, 10), n_runs)]
    assert out.startswith("sweep ") and "aesweep-report:" not in out


def test_a_small_sweep_reads_without_progress_lines_in_a_log(store, tmp_path, capsys):
    assert main(_report_args(store["uri"], tmp_path)) == 0
    assert "aesweep-report: read" not in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reading_progress_is_a_bar_on_a_terminal(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(build, "PAGE_SIZE", 10)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(_report_args(store["uri"], tmp_path)) == 0
    out = capsys.readouterr().out
    assert "aesweep-report: reading runs" in terminal.getvalue()
    assert "\r" in terminal.getvalue()  # redrawn in place
    assert all(f"{n} runs" in terminal.getvalue() for n in (10, 20, 3 * MAX_EPOCH_LINES * 2))
    assert "aesweep-report: read " not in terminal.getvalue()
    assert out.startswith("sweep ") and "reading runs" not in out
