"""The sweep report over architectures (``architecture=dense,denoising,sparse``), from a
synthetic sweep logged as jobs log them: cells by architecture, one curve per architecture,
a verdict per architecture and the table of what won where."""

from __future__ import annotations

import itertools

import pytest
from mlflow.tracking import MlflowClient

from aesweep.report import build_report, format_what_won_where, what_won_where, write_report
from aesweep.report.plots import metric_figure, recon_figure
from aesweep.report.text import format_markdown, format_table
from test_report import log_sweep

ARCHITECTURES, BOTTLENECKS, SEEDS = ("dense", "denoising", "sparse"), (4, 16), (0, 1)
# Each member's own params, as its schema logs them (dense has none of these).
MEMBER_PARAMS = {"dense": {}, "denoising": {"architecture.noise.kind": "gaussian",
                                             "architecture.noise.level": 0.1},
                 "sparse": {"architecture.l1": 0.001}}
# Test accuracy of the encoder: denoising-16 is the best; PCA-16 (0.86) beats dense-16
# and sparse-16; at 4, raw (0.80) beats sparse.
ENCODED = {("dense", 4): 0.83, ("dense", 16): 0.84, ("denoising", 4): 0.84,
           ("denoising", 16): 0.90, ("sparse", 4): 0.77, ("sparse", 16): 0.85}
UNTRAINED = {"dense": 0.70, "denoising": 0.71, "sparse": 0.72}
PCA = {4: 0.79, 16: 0.86}


def metrics(architecture: str, b: int, seed: int) -> dict[str, float]:
    """Seed noise smaller on the controls than on the encoder: paired deltas vary a little,
    so every interval is finite and the large gaps are significant."""
    e, c = (0.001, -0.001)[seed], (0.0005, -0.0005)[seed]
    encoded = ENCODED[architecture, b] + e
    return {"encoded_accuracy": encoded, "val_encoded_accuracy": encoded - 0.01,
            "raw_accuracy": 0.80 + c, "pca_accuracy": PCA[b] + c,
            "random_accuracy": UNTRAINED[architecture] + b / 1000 + c,
            "recon_mse_test": 1 / b + ARCHITECTURES.index(architecture) / 10 + e}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("arch")
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.create_experiment("aesweep", (root / "mlartifacts").as_uri())
    jobs = [({"architecture.name": a, **MEMBER_PARAMS[a], "architecture.bottleneck": b,
              "trainer.epochs": 10, "seed": s}, metrics(a, b, s), "FINISHED")
            for a, b, s in itertools.product(ARCHITECTURES, BOTTLENECKS, SEEDS)]
    many = log_sweep(client, exp, 1_000, "architecture=dense,denoising,sparse "
                     "architecture.bottleneck=4,16 seed=0,1", jobs, "classification", "accuracy")
    dense = [job for job in jobs if job[0]["architecture.name"] == "dense"]
    one = log_sweep(client, exp, 2_000, "architecture.bottleneck=4,16 seed=0,1", dense,
                    "classification", "accuracy")
    return {"client": client, "many": build_report(client, "aesweep", many),
            "one": build_report(client, "aesweep", one), "root": root}


def test_cells_are_keyed_by_architecture_without_the_members_own_params(sweeps):
    report = sweeps["many"]
    assert report.by_architecture and report.extra == ["architecture.name"]
    cells = report.cells
    assert list(zip(cells["architecture.name"], cells.bottleneck, strict=True)) == list(
        itertools.product(sorted(ARCHITECTURES), BOTTLENECKS))  # by name: denoising first
    assert (cells.seeds == 2).all()
    best = cells.loc[report.best]
    assert (best["architecture.name"], best.bottleneck) == ("denoising", 16)
    header = next(line for line in format_table(report).splitlines() if "bottleneck" in line)
    assert header.split()[:5] == ["best", "architecture", "bottleneck", "epochs", "seeds"]
    assert "| best | architecture | bottleneck | epochs | seeds |" in format_markdown(report)


def test_the_verdict_names_the_best_architecture_and_judges_each_one(sweeps):
    v = sweeps["many"].verdict
    assert v.startswith("best on validation: denoising, bottleneck 16, 10 epochs (0.89")
    assert "over an untrained denoising encoder" in v and "does not beat" not in v.split(
        "Per architecture")[0]
    per = v.split("Per architecture, its best cell on validation: ")[1]
    denoising, dense, sparse = per.split("; ")
    assert dense.startswith("dense (bottleneck 16, 10 epochs, encoded 0.84")
    assert "beats raw (+0.04" in dense and "beats its untrained encoder" in dense
    assert "does not beat PCA-16 (\u22120.02" in dense and "within noise" not in dense
    assert denoising.startswith("denoising (bottleneck 16") and "beats PCA-16" in denoising
    assert sparse.startswith("sparse (bottleneck 16") and "does not beat PCA-16" in sparse


def test_one_curve_per_architecture_with_the_controls(sweeps):
    report = sweeps["many"]
    ax = metric_figure(report).axes[0]
    labels = [c.get_label() for c in ax.containers]
    assert [label for label in labels if not label.startswith(("untrained", "PCA"))] == [
        "denoising, 10 epochs", "dense, 10 epochs", "sparse, 10 epochs"]
    assert [label for label in labels if label.startswith("untrained")] == [
        "untrained denoising", "untrained dense", "untrained sparse"]
    assert labels.count("PCA, k = bottleneck") == 1  # PCA does not depend on the architecture
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("raw features: 0.800") for t in legend) and len(legend) == 8
    curves = {c.get_label(): c for c in ax.containers}
    # each curve's points: its architecture's means at bottleneck 4 and 16
    y = curves["sparse, 10 epochs"].lines[0].get_ydata()
    assert list(y) == pytest.approx([ENCODED["sparse", 4], ENCODED["sparse", 16]])
    recon = recon_figure(report).axes[0]
    assert [c.get_label() for c in recon.containers] == [
        "denoising, 10 epochs", "dense, 10 epochs", "sparse, 10 epochs"]


def test_what_won_where_names_the_winner_of_each_architecture_and_bottleneck(sweeps):
    report = sweeps["many"]
    table = what_won_where(report)
    assert list(table.columns) == ["architecture", "bottleneck", "epochs", "seeds", "encoded",
                                   "\u0394 vs raw", "\u0394 vs PCA", "\u0394 vs untrained",
                                   "winner"]
    winners = dict(zip(zip(table.architecture, table.bottleneck.astype(int), strict=True),
                       table.winner, strict=True))
    assert winners == {("dense", 4): "encoded", ("dense", 16): "PCA",
                       ("denoising", 4): "encoded", ("denoising", 16): "encoded",
                       ("sparse", 4): "raw", ("sparse", 16): "PCA"}
    dense16 = table.iloc[3]
    assert dense16["\u0394 vs PCA"].startswith("\u22120.020 \u00b1 ")
    assert dense16["\u0394 vs PCA"].endswith(" *")  # its interval excludes 0
    assert dense16.encoded.startswith("0.840 \u00b1 ")
    md = format_what_won_where(report)
    assert md.splitlines()[0].startswith("| architecture | bottleneck |")
    assert md.count("\n| ") == 6  # a line per row
    files = write_report(report, sweeps["root"] / "out")
    text = files[0].read_text(encoding="utf-8")
    assert "## What won where" in text and md in text


def test_a_single_architecture_sweep_is_reported_as_before(sweeps):
    report = sweeps["one"]
    assert not report.by_architecture and report.extra == []
    assert "architecture" not in format_table(report)
    assert report.verdict.startswith("best on validation: bottleneck 16, 10 epochs (0.83")
    assert "Per architecture" not in report.verdict and "untrained encoder" in report.verdict
    assert "What won where" not in format_markdown(report)
    labels = [c.get_label() for c in metric_figure(report).axes[0].containers]
    assert labels == ["autoencoder, 10 epochs", "PCA, k = bottleneck", "untrained encoder"]
    # The bench can still ask what won where: the one architecture, by bottleneck.
    table = what_won_where(report)
    assert table.architecture.tolist() == ["dense", "dense"]
    assert table.winner.tolist() == ["encoded", "PCA"]
