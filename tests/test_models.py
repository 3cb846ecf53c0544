"""Each job's encoder as a pyfunc model of raw features, and ``aesweep-report --register``.

One tiny sweep runs in-process (module fixture) with its encoders logged; the jobs' fitted
pipelines are kept, to compare the logged models with what each job computed."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import get_model_info
from mlflow.tracking import MlflowClient

from aesweep import task
from aesweep.names import (
    BOTTLENECK_PARAM,
    ENCODED,
    EPOCHS_PARAM,
    SEED_PARAM,
    val_metric_key,
)
from aesweep.report import main
from aesweep.report.model import Report
from aesweep.task import JobContext, run_task
from aesweep.tracking.models import (
    BEST_ALIAS,
    ENCODER_MODEL,
    SOURCE_RUN_TAG,
    EncoderError,
    chosen_run,
    logged_encoder,
    register_encoder,
)
from aesweep.tracking.redaction import Redactor
from aesweep.tracking.runs import start_sweep_run
from aesweep.tracking.store import fluent_api, open_store

from helpers import TINY, compose_config

pytestmark = pytest.mark.xdist_group("keras")

N_FEATURES = 20  # TINY's dataset.n_features
FAST = [*TINY, "trainer.epochs=1", "evaluation.bootstrap_resamples=0",
        "evaluation.controls=[]"]
# The sweep's jobs: two seeds of bottleneck 2 (one cell), one of bottleneck 3.
GRID = ((2, 0), (2, 1), (3, 0))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A sweep of ``GRID`` with a min-max scaler, its encoders logged; ``jobs`` maps each
    run id to the job and its result, as the task computed them."""
    root = tmp_path_factory.mktemp("models")
    base = [*FAST, f"paths.root={root}", "preprocessing.scaler=minmax"]
    store = open_store(compose_config(base).tracking)
    parent = start_sweep_run(store, Redactor(), "sweep", {})
    jobs, real_run_job = {}, task.run_job

    def recording(job, *args, **kwargs):
        result = real_run_job(job, *args, **kwargs)
        recorded.append((job, result))
        return result

    recorded: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task, "run_job", recording)
        for num, (bottleneck, seed) in enumerate(GRID):
            cfg = compose_config([*base, f"architecture.bottleneck={bottleneck}",
                                  f"seed={seed}", f"tracking.parent_run_id={parent}"])
            outcome = run_task(cfg, JobContext(job_num=num))
            assert outcome is not None, f"job {num} failed"
            jobs[outcome.run_id] = recorded[-1]
    return SimpleNamespace(root=root, uri=store.uri, client=store.client, parent=parent,
                           jobs=jobs)


def load(uri: str, model_uri: str) -> mlflow.pyfunc.PyFuncModel:
    with fluent_api(uri):  # runs:/ and models:/ URIs resolve through the tracking store
        return mlflow.pyfunc.load_model(model_uri)


@pytest.mark.slow  # the module's sweep: three jobs
def test_the_logged_encoder_takes_raw_features_as_the_job_did(sweep) -> None:
    for run_id, (job, result) in sweep.jobs.items():
        model = load(sweep.uri, f"runs:/{run_id}/{ENCODER_MODEL}")
        X_raw = job.splits.X_test
        expected = result.pipelines[ENCODED][:-1].transform(X_raw)
        assert expected.shape == (len(X_raw), result.encoder.bottleneck)
        for given in (X_raw, X_raw.astype(np.float64),
                      pd.DataFrame(X_raw, columns=job.dataset.feature_names)):
            features = model.predict(given)
            assert isinstance(features, np.ndarray) and features.dtype == np.float32
            np.testing.assert_allclose(features, expected, rtol=0, atol=1e-6)
        # Not the scaled features' encoder: the raw rows go through the fitted scaler.
        assert not np.allclose(result.encoder.transform(X_raw), expected, atol=1e-3)


@pytest.mark.slow  # the module's sweep: three jobs
def test_its_signature_and_metadata_say_what_it_takes(sweep) -> None:
    run_id, (job, result) = next(iter(sweep.jobs.items()))
    model_uri = f"models:/{logged_encoder(sweep.client, run_id).model_id}"
    with fluent_api(sweep.uri):
        info = get_model_info(model_uri)
    assert set(info.flavors) == {"python_function"}  # no Keras flavor to keep in step
    inputs = info.signature.inputs.inputs
    assert len(inputs) == N_FEATURES == job.splits.X_test.shape[1]
    assert {spec.type.name for spec in inputs} == {"double"}
    assert tuple(info.signature.outputs.inputs[0].shape) == (-1, result.encoder.bottleneck)
    assert info.metadata["input"].startswith("raw features; applies "
                                             "preprocessing.scaler=minmax")
    assert info.metadata["input_columns"] == list(job.dataset.feature_names)
    with pytest.raises(MlflowException):  # too few columns
        load(sweep.uri, model_uri).predict(job.splits.X_test[:, :5])


def _by_cell(client: MlflowClient, run_ids: list[str]) -> dict[tuple[str, str], dict]:
    """Validation accuracy by run, grouped by (bottleneck, epochs): the sweep's cells."""
    cells: dict[tuple[str, str], dict] = {}
    for run_id in run_ids:
        run = client.get_run(run_id)
        cell = (run.data.params[BOTTLENECK_PARAM], run.data.params[EPOCHS_PARAM])
        cells.setdefault(cell, {})[run_id] = run.data.metrics[val_metric_key(ENCODED,
                                                                             "accuracy")]
    return cells


@pytest.mark.slow  # the module's sweep: three jobs
def test_register_names_the_best_run_of_the_best_cell(sweep, tmp_path, capsys) -> None:
    args = ["--tracking-uri", sweep.uri, "--sweep", sweep.parent, "--out", str(tmp_path),
            "--register", "aesweep-encoder"]
    assert main(args) == 0
    out = capsys.readouterr().out
    version = sweep.client.get_model_version_by_alias("aesweep-encoder", BEST_ALIAS)
    run_id = version.run_id
    cells = _by_cell(sweep.client, list(sweep.jobs))
    (cell,) = [scores for scores in cells.values() if run_id in scores]
    best_mean = max(np.mean(list(scores.values())) for scores in cells.values())
    assert np.mean(list(cell.values())) == best_mean  # the chosen cell
    assert cell[run_id] == max(cell.values())  # its best run on validation
    assert version.tags[SOURCE_RUN_TAG] == run_id
    model = logged_encoder(sweep.client, run_id)
    assert version.source == f"models:/{model.model_id}"
    assert {"name": "aesweep-encoder", "version": version.version} in json.loads(
        model.tags["mlflow.modelVersions"])  # the Models tab's link to the version
    run = sweep.client.get_run(run_id)
    params = run.data.params
    assert (f"registered encoder of run {run_id} (bottleneck {params[BOTTLENECK_PARAM]}, "
            f"{params[EPOCHS_PARAM]} epochs, seed {params[SEED_PARAM]}) as "
            f"models:/aesweep-encoder@best (version {version.version})") in out
    job, result = sweep.jobs[run_id]
    registered = load(sweep.uri, "models:/aesweep-encoder@best")
    np.testing.assert_allclose(registered.predict(job.splits.X_test),
                               result.pipelines[ENCODED][:-1].transform(job.splits.X_test),
                               rtol=0, atol=1e-6)
    # Registering again adds a version and moves the alias to it.
    assert main(args) == 0
    again = sweep.client.get_model_version_by_alias("aesweep-encoder", BEST_ALIAS)
    assert int(again.version) == int(version.version) + 1
    assert f"(version {again.version})" in capsys.readouterr().out


def test_a_run_without_an_encoder_cannot_be_registered(tmp_path: Path) -> None:
    cfg = compose_config([*FAST, f"paths.root={tmp_path}", "tracking.log_model=false"])
    outcome = run_task(cfg, JobContext())
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(EncoderError) as error:
        register_encoder(client, outcome.run_id, "nothing")
    message = str(error.value)
    assert message.startswith(f"run {outcome.run_id} has no logged 'encoder' model")
    assert "tracking.log_model" in message and "\n" not in message
    assert client.search_registered_models() == []  # nothing half-registered
    with pytest.raises(EncoderError, match="run 0123abcd: no such run"):
        register_encoder(client, "0123abcd", "nothing")


def _report(runs: list[dict], cells: list[dict], best: int, metric: str = "accuracy",
            extra: tuple[str, ...] = (), selected_by: str = "holdout") -> Report:
    return Report("aesweep", "sweep", metric, "classification", "data", "", {}, list(extra),
                  pd.DataFrame(runs), pd.DataFrame(cells), best, selected_by)


def _run(run_id: str, bottleneck: int, epochs: int, val: float, test: float,
         **params: str) -> dict:
    return {"run_id": run_id, BOTTLENECK_PARAM: str(bottleneck), EPOCHS_PARAM: str(epochs),
            "val_encoded": val, "encoded": test, **params}


def test_chosen_run_is_the_best_of_the_chosen_cell_not_of_the_sweep() -> None:
    runs = [_run("a", 4, 5, 0.95, 0.80, **{"optimizer.name": "adam"}),  # best, other cell
            _run("b", 4, 5, 0.70, 0.90, **{"optimizer.name": "sgd"}),
            _run("c", 4, 5, 0.75, 0.85, **{"optimizer.name": "sgd"}),
            _run("d", 8, 5, 0.90, 0.70, **{"optimizer.name": "sgd"})]
    cells = [{"bottleneck": 4, "epochs": 5, "optimizer.name": "adam"},
             {"bottleneck": 4, "epochs": 5, "optimizer.name": "sgd"},
             {"bottleneck": 8, "epochs": 5, "optimizer.name": "sgd"}]
    extra = ("optimizer.name",)
    assert chosen_run(_report(runs, cells, 1, extra=extra))["run_id"] == "c"
    # Chosen on the test rows when the runs logged no validation scores.
    assert chosen_run(_report(runs, cells, 1, extra=extra,
                              selected_by="test"))["run_id"] == "b"
    # An error metric: lower is better.
    assert chosen_run(_report(runs, cells, 1, metric="rmse", extra=extra))["run_id"] == "b"
