"""End to end: one ``aesweep`` job through the real CLI, verified through MLflow.

The CLI runs once (module fixture) against a temporary SQLite store; each test then
checks one promise: one FINISHED run, its params (without ``tracking.uri``), per-epoch and
final metrics, the config/overrides/loss-curve artifacts, the encoder as an MLflow pyfunc
model of raw features with ``bottleneck`` output columns, the dataset input and the run name.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from helpers import TINY, describe, run_cli, store_args, store_uri

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("cli_single"),
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

BOTTLENECK, EPOCHS, SEED = 4, 2, 1
N_SAMPLES, N_FEATURES = 300, 20
N_TRAIN = N_SAMPLES - 60 - 30  # test_size 0.2 and val_size 0.1 of the whole
OVERRIDES = [*TINY, f"architecture.bottleneck={BOTTLENECK}", f"trainer.epochs={EPOCHS}",
             f"seed={SEED}"]
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("single")
    # As on a new machine: Matplotlib has no font cache yet.
    result = run_cli([*store_args(root), *OVERRIDES], cwd=root,
                     env={"MPLCONFIGDIR": str(root / "matplotlib")})
    assert result.returncode == 0, describe(result)
    uri = store_uri(root)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("aesweep")
    assert experiment is not None, "no experiment named 'aesweep' in the store"
    runs = client.search_runs([experiment.experiment_id])
    return SimpleNamespace(root=root, result=result, uri=uri, client=client,
                           experiment=experiment, runs=runs, run=runs[0] if runs else None)


def download(job, path: str) -> Path:
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        run_id=job.run.info.run_id, artifact_path=path, tracking_uri=job.uri,
        dst_path=str(job.root / "downloads"))
    return Path(local)


def test_exactly_one_finished_run(job):
    assert len(job.runs) == 1
    assert job.run.info.status == "FINISHED"
    assert not (job.root / "outputs" / "mlflow.db").exists(), "ignored tracking.uri"


def test_one_headline_line_at_the_end_of_the_job(job):
    output = job.result.stdout + job.result.stderr
    headlines = [line for line in output.splitlines() if "recon_mse_test=" in line]
    assert len(headlines) == 1, describe(job.result)
    assert "accuracy" in headlines[0]
    assert "Traceback" not in output


def test_no_start_up_chatter(job):
    """TensorFlow's INFO lines at import (absl, before TF_CPP_MIN_LOG_LEVEL applies) are
    filtered, and so is Matplotlib's INFO line as it builds its font cache on a new machine
    (Hydra's handler would print it as a [HYDRA] line); their warnings would pass."""
    assert list((job.root / "matplotlib").glob("fontlist*.json")), "the font cache was warm"
    output = job.result.stdout + job.result.stderr
    for noise in ("oneDNN custom operations", "absl::InitializeLog", "cpu_feature_guard",
                  "fontManager"):
        assert noise not in output, describe(job.result)


def test_params_are_the_flattened_config(job):
    params = job.run.data.params
    expected = {
        "architecture.bottleneck": str(BOTTLENECK),
        "trainer.epochs": str(EPOCHS),
        "seed": str(SEED),
        "dataset.name": "synthetic_classification",
        "dataset.n_samples": str(N_SAMPLES),
        "dataset.n_features": str(N_FEATURES),
        "optimizer.name": "adam",
        "downstream.name": "logistic_regression",
        "split.random_state": str(SEED),  # resolved, following the seed
    }
    assert {key: params.get(key) for key in expected} == expected
    for key in ("optimizer.learning_rate", "trainer.batch_size", "split.test_size",
                "split.val_size", "preprocessing.scaler", "tracking.experiment"):
        assert key in params


def test_tracking_uri_is_never_a_param_or_tag(job):
    assert "tracking.uri" not in job.run.data.params
    secrets = (job.uri, str(job.root / "mlflow.db"))
    for key, value in {**job.run.data.params, **job.run.data.tags}.items():
        assert not any(secret in value for secret in secrets), key


def test_per_epoch_losses(job):
    for key in ("train_loss", "val_loss"):
        history = job.client.get_metric_history(job.run.info.run_id, key)
        assert len(history) == EPOCHS, key
        steps = sorted(m.step for m in history)
        assert steps == list(range(steps[0], steps[0] + EPOCHS)) and steps[0] in (0, 1), key
        assert all(np.isfinite(m.value) and m.value > 0 for m in history), key


def test_final_metrics(job):
    metrics = job.run.data.metrics
    for key in ("recon_mse_val", "recon_mse_test", "train_seconds"):
        assert key in metrics and np.isfinite(metrics[key]) and metrics[key] >= 0, key
    for prefix in ("raw", "encoded"):
        for name in CLASSIFICATION_METRICS:
            value = metrics.get(f"{prefix}_{name}")
            assert value is not None and 0 <= value <= 1, f"{prefix}_{name}"


def test_config_artifacts(job):
    paths = {a.path for a in job.client.list_artifacts(job.run.info.run_id, "config")}
    assert {"config/config.yaml", "config/overrides.txt"} <= paths
    config = yaml.safe_load(download(job, "config/config.yaml").read_text())
    assert config["architecture"]["bottleneck"] == BOTTLENECK
    assert config["trainer"]["epochs"] == EPOCHS
    assert config["split"]["random_state"] == SEED  # resolved
    assert "uri" not in config["tracking"]
    overrides = download(job, "config/overrides.txt").read_text().splitlines()
    for override in OVERRIDES:
        assert override in overrides


def test_overrides_artifact_does_not_leak_the_tracking_uri(job):
    text = download(job, "config/overrides.txt").read_text()
    assert "tracking.uri" not in text
    assert job.uri not in text


def test_loss_curve_is_a_png(job):
    from PIL import Image

    path = download(job, "plots/loss_curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.width > 100 and image.height > 100


def test_encoder_is_a_logged_model(job):
    models = job.client.search_logged_models(experiment_ids=[job.experiment.experiment_id])
    encoders = [m for m in models if m.name == "encoder"]
    assert len(encoders) == 1
    assert encoders[0].source_run_id == job.run.info.run_id


def test_logged_encoder_outputs_bottleneck_columns(job):
    import mlflow
    from mlflow.models import get_model_info

    models = job.client.search_logged_models(experiment_ids=[job.experiment.experiment_id])
    model_uri = f"models:/{models[0].model_id}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(job.uri)  # models:/ URIs resolve through the tracking store
    try:
        info = get_model_info(model_uri)
        model = mlflow.pyfunc.load_model(model_uri)
    finally:
        mlflow.set_tracking_uri(previous)
    assert info.flavors.keys() == {"python_function"}  # raw features in: scaler, encoder
    assert info.signature is not None
    assert len(info.signature.inputs.inputs) == N_FEATURES
    assert tuple(info.signature.outputs.inputs[0].shape) == (-1, BOTTLENECK)
    rows = np.random.default_rng(0).normal(size=(3, N_FEATURES)).astype(np.float32)
    assert np.asarray(model.predict(rows)).shape == (3, BOTTLENECK)


def test_dataset_is_logged_as_an_input(job):
    inputs = job.run.inputs.dataset_inputs
    assert inputs
    contexts = {}
    for dataset_input in inputs:
        tags = {tag.key: tag.value for tag in dataset_input.tags}
        contexts[tags.get("mlflow.data.context")] = dataset_input.dataset
    assert "training" in contexts
    training = contexts["training"]
    assert training.name == "synthetic_classification"
    profile = json.loads(training.profile)
    if "features_shape" in profile:  # the training rows only
        assert profile["features_shape"] == [N_TRAIN, N_FEATURES]


def test_run_name_is_built_from_the_overrides(job):
    name = job.run.info.run_name
    assert f"bottleneck={BOTTLENECK}" in name
    assert f"epochs={EPOCHS}" in name
    assert "mlflow.db" not in name and "tracking" not in name and "hydra" not in name
    assert len(name) < 250
