"""End to end: ``-m architecture=dense,denoising,sparse,variational`` is a normal multirun:
four FINISHED job runs, each with its architecture's params, the sparse one with the
bottleneck's sparsity metrics and the variational one with its loss terms per epoch."""

from __future__ import annotations

import pytest

from helpers import TINY, describe, run_cli, store_args, store_uri

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("cli_multirun"),
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]


def test_a_sweep_over_architectures(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    result = run_cli(["-m", *store_args(tmp_path), *TINY, "tracking.log_model=false",
                      "trainer.epochs=2", "architecture.bottleneck=4",
                      "architecture=dense,denoising,sparse,variational"], cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    client = MlflowClient(store_uri(tmp_path))
    experiment = client.get_experiment_by_name("aesweep")
    runs = client.search_runs([experiment.experiment_id])
    jobs = {run.data.params["architecture.name"]: run for run in runs
            if "architecture.name" in run.data.params}
    assert set(jobs) == {"dense", "denoising", "sparse", "variational"}
    assert all(run.info.status == "FINISHED" for run in runs)
    assert jobs["denoising"].data.params["architecture.noise.kind"] == "gaussian"
    assert jobs["sparse"].data.params["architecture.l1"] == "0.001"
    assert jobs["variational"].data.params["architecture.beta"] == "1.0"
    for name, run in jobs.items():
        assert run.data.params["architecture.bottleneck"] == "4"
        assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 2
        assert ("code_near_zero_test" in run.data.metrics) == (name == "sparse")
        kl = client.get_metric_history(run.info.run_id, "train_kl_loss")
        assert len(kl) == (2 if name == "variational" else 0)
    assert 0 <= jobs["sparse"].data.metrics["code_near_zero_test"] <= 1


def test_all_five_architectures_on_digits_and_the_report_compares_them(tmp_path) -> None:
    """digits rows are 8 x 8 images (``dataset.image_shape`` [8, 8, 1]): conv runs beside
    the dense members, and the report's table has one row per architecture x bottleneck."""
    from mlflow.tracking import MlflowClient

    names = ["dense", "denoising", "sparse", "variational", "conv"]
    result = run_cli(["-m", *store_args(tmp_path), "dataset=digits", "tracking.log_model=false",
                      "trainer.epochs=2", "architecture.bottleneck=4,8",
                      f"architecture={','.join(names)}"], cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert "Warning" not in result.stderr, describe(result)  # matplotlib's layout ones too
    client = MlflowClient(store_uri(tmp_path))
    experiment = client.get_experiment_by_name("aesweep")
    runs = client.search_runs([experiment.experiment_id])
    jobs = [run for run in runs if "architecture.name" in run.data.params]
    assert sorted({run.data.params["architecture.name"] for run in jobs}) == sorted(names)
    assert len(jobs) == 10 and all(run.info.status == "FINISHED" for run in runs)
    conv = [run for run in jobs if run.data.params["architecture.name"] == "conv"]
    assert all(run.data.params["architecture.filters"] == "[16, 32]" for run in conv)
    assert all(run.data.params["dataset.image_shape"] == "[8, 8, 1]" for run in conv)
    [report] = [path for path in tmp_path.rglob("report/report.md")
                if "multirun" in path.parts]  # not the copy logged as an artifact
    text = report.read_text()
    assert "What won where" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")
            and any(f"| {name} " in line for name in names)]
    # The report's main table and the what-won-where table: 10 cells each.
    assert len(rows) == 20, text
