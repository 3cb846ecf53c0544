"""The sweep report on sweeps logged to a temporary SQLite store exactly as jobs log them."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from PIL import Image
from scipy import stats

from aesweep.report import (
    FILES,
    ReportError,
    build_report,
    log_report,
    main,
    sweep_report,
    sweep_table,
    write_report,
)
from aesweep.report.text import format_note, format_table

BOTTLENECKS, EPOCHS, SEEDS = (4, 16), (5, 20), (0, 1, 2)
NOISE = {0: 0.0, 1: 0.012, 2: -0.007}


def classification_metrics(b: int, e: int, seed: int) -> dict[str, float]:
    """Known accuracies: the best cell (16, 20) beats raw and the untrained encoder but
    not PCA-16; the noise scales with the cell, so every cell has its own interval."""
    noise = NOISE[seed] * (1 + b / 16 + e / 10)
    validation = {f"val_{k}": v - 0.01 + NOISE[(seed + 1) % 3] for k, v in {
        "encoded_accuracy": 0.80 + 0.005 * np.log2(b) + 0.001 * e, "raw_accuracy": 0.81,
        "pca_accuracy": 0.80 + 0.004 * b, "random_accuracy": 0.79 + 0.002 * b}.items()}
    return {**validation,
        "recon_mse_test": 1 / b + 0.5 / e + NOISE[seed] / 10,
        "encoded_accuracy": 0.80 + 0.005 * np.log2(b) + 0.001 * e + noise,
        "raw_accuracy": 0.81 + NOISE[seed],
        "pca_accuracy": 0.80 + 0.004 * b + NOISE[seed] / 2,
        "random_accuracy": 0.79 + 0.002 * b - NOISE[seed],
        "encoded_f1": 0.5, "raw_f1": 0.4,
    }


def log_run(client: MlflowClient, experiment_id: str, tags: dict[str, str],
            params: dict[str, object], metrics: dict[str, float], status: str = "FINISHED",
            start: int | None = None) -> str:
    run = client.create_run(experiment_id, start_time=start or int(time.time() * 1000), tags=tags)
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()],
                     params=[Param(k, str(v)) for k, v in params.items()],
                     tags=[RunTag("aesweep.sweep_id", tags.get("aesweep.sweep_id", run_id))])
    client.set_terminated(run_id, status)
    return run_id


def log_sweep(client: MlflowClient, experiment_id: str, start: int, overrides: str,
              jobs: list[tuple[dict, dict, str]], task: str, metric: str) -> str:
    parent = log_run(client, experiment_id, {"aesweep.role": "sweep"},
                     {"sweep.overrides": overrides}, {}, start=start)
    for params, metrics, status in jobs:
        tags = {"mlflow.parentRunId": parent, "aesweep.sweep_id": parent, "aesweep.task": task,
                "aesweep.main_metric": metric}
        base = {"seed": 0, "dataset.name": "synthetic", "optimizer.name": "adam",
                "downstream.name": "logistic_regression", "tracking.experiment": "aesweep"}
        params = {**base, **params, "split.random_state": params.get("seed", 0)}
        log_run(client, experiment_id, tags, params, metrics, status, start=start + 1)
    return parent


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three sweeps: A (2 bottlenecks x 2 epochs x 3 seeds, one FAILED extra run),
    B (the latest: one seed, optimizer varies, no PCA) and C (regression, elsewhere)."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("aesweep", (root / "mlartifacts").as_uri())
    jobs = [({"architecture.bottleneck": b, "trainer.epochs": e, "seed": s},
             classification_metrics(b, e, s), "FINISHED")
            for b, e, s in itertools.product(BOTTLENECKS, EPOCHS, SEEDS)]
    jobs.append(({"architecture.bottleneck": 16, "trainer.epochs": 20, "seed": 3},
                 {**classification_metrics(16, 20, 0), "encoded_accuracy": 0.99}, "FAILED"))
    a = log_sweep(client, exp, 1_000, "architecture.bottleneck=4,16 trainer.epochs=5,20 "
                  "seed=0,1,2", jobs, "classification", "accuracy")
    jobs_b = [({"architecture.bottleneck": b, "trainer.epochs": 10, "optimizer.name": opt},
               {"recon_mse_test": 0.1, "encoded_accuracy": 0.9 + b / 1000 - (opt == "sgd") / 10,
                "raw_accuracy": 0.88, "random_accuracy": 0.85, "ci_low_vs_raw": -0.01,
                "ci_high_vs_raw": 0.05, "mcnemar_p_vs_raw": 0.25}, "FINISHED")
              for b, opt in itertools.product((8, 32), ("adam", "sgd"))]
    b = log_sweep(client, exp, 2_000, "optimizer=adam,sgd", jobs_b, "classification",
                  "accuracy")
    exp_c = client.create_experiment("reg", (root / "mlartifacts").as_uri())
    jobs_c = [({"architecture.bottleneck": bn, "trainer.epochs": 10, "seed": s},
               {"recon_mse_test": 0.2, "encoded_rmse": 50 - bn / 4 + s, "raw_rmse": 52 + s,
                "pca_rmse": 49 + s / 2, "random_rmse": 60.0, "val_encoded_rmse": 51 - bn / 4},
               "FINISHED")
              for bn, s in itertools.product((2, 8), (0, 1))]
    c = log_sweep(client, exp_c, 3_000, "", jobs_c, "regression", "rmse")
    return {"uri": uri, "client": client, "a": a, "b": b, "c": c, "root": root}


def expected(values: list[float]) -> tuple[float, float]:
    """Mean and 95% t half-width, computed by hand."""
    x = np.asarray(values)
    return x.mean(), stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))


def test_cells_equal_independent_means_and_intervals(store):
    report = build_report(store["uri"], "aesweep", store["a"])
    cells = report.cells
    assert report.metric == "accuracy" and report.task == "classification"
    assert report.statuses == {"FINISHED": 12, "FAILED": 1}
    assert report.extra == []
    assert list(zip(cells.bottleneck, cells.epochs, strict=True)) == list(
        itertools.product(BOTTLENECKS, EPOCHS))
    assert (cells.seeds == 3).all()
    for (b, e), cell in zip(itertools.product(BOTTLENECKS, EPOCHS), cells.itertuples(),
                            strict=True):
        runs = [classification_metrics(b, e, s) for s in SEEDS]
        for column, key in [("encoded", "encoded_accuracy"), ("raw", "raw_accuracy"),
                            ("pca", "pca_accuracy"), ("random", "random_accuracy"),
                            ("recon_mse_test", "recon_mse_test")]:
            mean, hw = expected([r[key] for r in runs])
            assert getattr(cell, column) == pytest.approx(mean)
            assert getattr(cell, f"{column}_ci") == pytest.approx(hw)
        deltas = [r["encoded_accuracy"] - r["pca_accuracy"] for r in runs]
        assert (cell.delta_vs_pca, cell.delta_vs_pca_ci) == pytest.approx(expected(deltas))
        p = stats.ttest_rel([r["encoded_accuracy"] for r in runs],
                            [r["raw_accuracy"] for r in runs]).pvalue
        assert (cell.p_value, cell.p_test) == (pytest.approx(p), "t")
    assert cells.encoded_ci.nunique() == 4  # the intervals really are per cell


def test_verdict_names_best_cell_and_the_control_it_does_not_beat(store):
    report = build_report(store["uri"], "aesweep", store["a"])
    v = report.verdict
    assert v.startswith("best on validation: bottleneck 16, 20 epochs (0.8")
    assert "; on the test rows, encoded 0.8" in v
    assert "over raw" in v and "over an untrained encoder" in v
    assert "does not beat PCA-16 (\u2212" in v
    assert "(3 seeds" in v
    table = format_table(report)
    assert "12 finished runs in 4 cells; ignored: 1 FAILED" in table
    assert "paired t-test" in table


def test_single_seed_sweep_uses_the_jobs_paired_stats_and_shows_varying_params(store):
    report = build_report(store["uri"], "aesweep", "latest")  # B is the latest sweep
    assert report.sweep_id == store["b"]
    assert report.extra == ["optimizer.name"]
    cells = report.cells
    assert list(zip(cells.bottleneck, cells["optimizer.name"], strict=True)) == [
        (8, "adam"), (8, "sgd"), (32, "adam"), (32, "sgd")]
    assert (cells.p_test == "McNemar").all() and (cells.p_value == 0.25).all()
    assert (cells.delta_vs_raw_low == -0.01).all() and cells.encoded_ci.isna().all()
    assert cells.pca.isna().all()
    table = format_table(report)
    assert "optimizer.name" in table and "PCA" not in table.splitlines()[3]
    assert "[\u22120.010, +0.050]" in table and "0.250 (McNemar)" in table
    assert report.verdict.startswith("best on test: bottleneck 32, 10 epochs, optimizer.name=adam")
    assert "chosen on the test rows (these runs logged no validation" in table
    assert "within noise" in report.verdict and "(1 seed;" in report.verdict


def test_error_metrics_are_oriented_so_positive_means_encoder_better(store):
    report = build_report(store["uri"], "reg", "latest")
    assert report.metric == "rmse"
    best = report.cells.iloc[1]
    assert best.bottleneck == 8
    assert best.delta_vs_raw == pytest.approx(np.mean([52 - 48, 53 - 49]))
    assert best.delta_vs_pca == pytest.approx(np.mean([49 - 48, 49.5 - 49]))
    assert report.verdict.startswith("best on validation: bottleneck 8, 10 epochs (49.0 ± ")
    assert "on the test rows, encoded 48.5" in report.verdict
    assert "+4.0 over raw" in report.verdict and "lower is better" in report.verdict
    assert np.isnan(best.p_value)  # encoded - raw is the same for both seeds: no t-test


def test_files_and_artifacts(store, tmp_path):
    report = build_report(store["uri"], "aesweep", store["a"])
    files = write_report(report, tmp_path)
    assert [f.name for f in files] == list(FILES)
    for png in files[2:]:
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300
    csv = pd.read_csv(files[1])
    assert csv.encoded.tolist() == pytest.approx(report.cells.encoded.tolist())
    md = files[0].read_text(encoding="utf-8")
    assert report.verdict in md and "![metric vs bottleneck](metric_vs_bottleneck.png)" in md
    log_report(report, store["a"], files)
    logged = store["client"].list_artifacts(store["a"], "report")
    assert sorted(a.path for a in logged) == sorted(f"report/{name}" for name in FILES)
    # The parent's description in the MLflow UI: the verdict, then the table.
    note = store["client"].get_run(store["a"]).data.tags["mlflow.note.content"]
    assert note.startswith(f"**Verdict:** {report.verdict}")
    assert "| best | bottleneck | epochs |" in note and note.count("\n| ") == len(report.cells) + 1


def test_a_long_description_is_cut_by_whole_rows(store):
    report = build_report(store["uri"], "aesweep", store["a"])
    full = format_note(report, 100_000)
    cut = format_note(report, len(full) - 1)
    assert len(cut) < len(full) and cut.startswith(f"**Verdict:** {report.verdict}")
    assert cut.count("\n| ") == full.count("\n| ") - 1 and "more rows in" in cut


def _env() -> dict[str, str]:
    """The environment without HYDRA_FULL_ERROR, which turns one-line errors into tracebacks."""
    return {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}


@pytest.fixture
def one_line_errors(monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)


def test_cli_in_a_new_process_without_tensorflow(store, tmp_path):
    out = tmp_path / "out"
    check = ("import sys; from aesweep.report import main; code = main(sys.argv[1:]); "
             "assert not {'keras', 'tensorflow'} & set(sys.modules); sys.exit(code)")
    done = subprocess.run(
        [sys.executable, "-c", check, "--tracking-uri", store["uri"], "--sweep", store["a"],
         "--out", str(out)], capture_output=True, text=True, timeout=120, check=False,
        env=_env())
    assert done.returncode == 0, done.stderr
    assert "best on validation: bottleneck 16, 20 epochs" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)


def test_unknown_sweep_exits_2_with_one_line(store):
    script = Path(sys.executable).with_name("aesweep-report")  # the installed console script
    assert script.is_file(), f"no console script {script}: pip install -e . first"
    done = subprocess.run(
        [str(script), "--tracking-uri", store["uri"], "--sweep", "0123456789abcdef"],
        capture_output=True, text=True, timeout=120, check=False, env=_env())
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "aesweep-report: error: no sweep '0123456789abcdef': no such run in the store"]
    assert done.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (["--experiment", "nope"], "no experiment 'nope'"),
    (["--sweep", "CHILD"], "is not a sweep's parent run"),
    (["--metric", "roc_auc"], "logged no encoded_roc_auc; choose --metric from accuracy, f1"),
])
def test_cli_errors_are_one_line_with_exit_code_2(store, capsys, one_line_errors, args,
                                                  message):
    child = store["client"].search_runs(
        [store["client"].get_experiment_by_name("aesweep").experiment_id],
        f"tags.`mlflow.parentRunId` = '{store['a']}'", max_results=1)[0].info.run_id
    args = [child if a == "CHILD" else a for a in args]
    with pytest.raises(SystemExit) as exit_:
        main(["--tracking-uri", store["uri"], "--sweep", store["a"], *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("aesweep-report: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_mlflow_errors_are_one_line_with_exit_code_2(capsys, one_line_errors):
    with pytest.raises(SystemExit) as exit_:
        main(["--tracking-uri", "bogus://store"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("aesweep-report: error: ") and "bogus://store" in err
    assert "MlflowException" not in err  # wrapped as a ReportError: the message alone
    assert len(err.strip().splitlines()) == 1


def test_missing_store_is_an_error_and_is_not_created(tmp_path, capsys, monkeypatch,
                                                      one_line_errors):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "no MLflow store at" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists()


def test_sweep_report_for_the_end_of_a_multirun(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = sweep_report(store["uri"], "reg", store["c"])
    assert "best on validation: bottleneck 8" in text
    assert (tmp_path / "outputs" / "reports" / store["c"] / "report.md").is_file()
    # A missing sweep raises, so that the multirun can fail its exit code.
    with pytest.raises(ReportError, match="no sweep 'missing'"):
        sweep_report(store["uri"], "reg", "missing")


def test_sweep_table_lists_every_job_of_a_sweep(store):
    lines = sweep_table(store["uri"], store["a"]).splitlines()
    assert lines[0] == f"sweep {store['a']}: 13 jobs"
    assert lines[1].split() == ["bottleneck", "epochs", "seed", "recon_mse_test",
                                "raw_accuracy", "encoded_accuracy", "val_encoded_accuracy",
                                "status", "run"]
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 13
    assert sorted((int(r[0]), int(r[1]), int(r[2])) for r in rows if r[7] == "FINISHED") == \
        sorted(itertools.product(BOTTLENECKS, EPOCHS, SEEDS))
    failed = [r for r in rows if r[7] == "FAILED"]
    assert [r[:3] for r in failed] == [["16", "20", "3"]]
    assert failed[0][5] == "0.9900"
    regression = sweep_table(store["uri"], store["c"]).splitlines()
    assert regression[0] == f"sweep {store['c']}: 4 jobs"
    assert "raw_rmse" in regression[1].split() and "encoded_rmse" in regression[1].split()


def test_the_winner_is_chosen_on_validation_not_on_the_lucky_test_rows(tmp_path):
    """Cell 4 has the best test score by luck; cell 16 the best validation score. The
    report must name 16, give 16's test figures, and show both scores side by side."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("curse", (tmp_path / "mlartifacts").as_uri())
    test = {4: 0.95, 8: 0.85, 16: 0.88}  # 4 is the luckiest on the test rows
    val = {4: 0.84, 8: 0.86, 16: 0.90}
    jobs = [({"architecture.bottleneck": b, "trainer.epochs": 10, "seed": s},
             {"encoded_accuracy": test[b] + s / 1000, "raw_accuracy": 0.86,
              "val_encoded_accuracy": val[b] + s / 1000, "val_raw_accuracy": 0.85,
              "recon_mse_test": 0.1}, "FINISHED")
             for b, s in itertools.product(test, SEEDS)]
    parent = log_sweep(client, exp, 1_000, "", jobs, "classification", "accuracy")
    for run in client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent}'"):
        client.set_tag(run.info.run_id, "aesweep.validation", "cv5")
    report = build_report(client, "curse", parent)
    chosen = report.cells.loc[report.best]
    assert chosen.bottleneck == 16
    assert report.selected_on == "5-fold cross-validation on the training rows"
    assert report.verdict.startswith("best on 5-fold CV: bottleneck 16, 10 epochs (0.901 ± ")
    assert "on the test rows, encoded 0.881 ± " in report.verdict
    assert "+0.021 over raw" in report.verdict  # 16's test delta, not 4's
    table = format_table(report)
    assert "chosen on 5-fold cross-validation on the training rows" in table
    marked = [line.split() for line in table.splitlines() if line.lstrip().startswith("*")]
    assert [row[1] for row in marked] == ["16"]
    header = next(line for line in table.splitlines() if line.startswith("best bottleneck"))
    assert header.index("encoded (val)") < header.rindex("encoded") < header.index("raw")


def test_a_search_reports_its_rungs_history_and_pareto_front(tmp_path):
    """A logged successive-halving search: 9 trials at 3 epochs, 3 promoted to 9, 1 to 27,
    two seeds each, objectives validation and minimal bottleneck."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("search", (tmp_path / "mlartifacts").as_uri())
    parent = log_run(client, exp, {"aesweep.role": "sweep"}, {
        "sweep.overrides": "hydra/sweeper=search", "sweep.sweeper": "search",
        "sweep.sweeper.objectives": "validation,minimize architecture.bottleneck"}, {})
    bottleneck = {t: 2 ** (2 + t % 7) for t in range(9)}  # trial 7 repeats trial 0's 4
    quality = {0: 0.80, 1: 0.86, 2: 0.84, 3: 0.83, 4: 0.88, 5: 0.79, 6: 0.81, 7: 0.78, 8: 0.82}
    reached = {t: 0 for t in range(9)} | {1: 1, 2: 1, 4: 2}
    for trial, top in reached.items():
        for rung, epochs in enumerate((3, 9, 27)[:top + 1]):
            for seed in (0, 1):
                tags = {"mlflow.parentRunId": parent, "aesweep.sweep_id": parent,
                        "aesweep.task": "classification", "aesweep.main_metric": "accuracy",
                        "aesweep.trial": str(trial), "aesweep.rung": str(rung),
                        "aesweep.validation": "holdout"}
                if rung == top and trial != 4:
                    tags["aesweep.pruned_at_rung"] = str(rung)
                value = quality[trial] + rung / 100 + seed / 1000
                log_run(client, exp, tags, {
                    "architecture.bottleneck": bottleneck[trial], "trainer.epochs": epochs,
                    "seed": seed, "split.random_state": seed, "dataset.name": "synthetic"},
                    {"val_encoded_accuracy": value, "encoded_accuracy": value - 0.01,
                     "raw_accuracy": 0.8, "recon_mse_test": 0.1})
    report = build_report(client, "search", parent)
    assert report.is_search and report.sweeper["sweep.sweeper"] == "search"
    from aesweep.report import search

    rungs = search.rungs(report)
    assert rungs[["rung", "epochs", "configurations", "promoted", "pruned"]].values.tolist() \
        == [[0, 3, 9, 3, 6], [1, 9, 3, 1, 2], [2, 27, 1, 0, 0]]
    assert rungs["best validation"].tolist() == pytest.approx([0.8805, 0.8905, 0.9005])
    assert report.cells.loc[report.best].bottleneck == 64  # trial 4, at 27 epochs
    assert report.verdict.startswith("best on validation: bottleneck 64, 27 epochs")
    # Among 27-epoch cells only trial 4's: the front is that one cell.
    assert search.pareto_front(report).bottleneck.tolist() == [64]
    text = sweep_report(f"sqlite:///{tmp_path / 'mlflow.db'}", "search", parent, tmp_path / "r")
    assert "search: 9 trials" in text and "Pareto front (max val_encoded, min bottleneck)" in text
    assert (tmp_path / "r" / search.HISTORY_FILE).is_file()
    assert "## Search" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize(("p", "shown"), [(0.25, "0.250"), (0.0005, "0.001"),
                                          (0.000499, "<0.001"), (0.0, "<0.001"),
                                          (float("nan"), "n/a")])
def test_a_tiny_p_value_reads_as_an_upper_bound(p: float, shown: str) -> None:
    from aesweep.report.numbers import p_text

    assert p_text(p) == shown
