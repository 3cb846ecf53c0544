"""A sweep costs only its unique work: resumed training equals fresh training, a sweep
over epochs trains each config once, and cached controls equal fresh ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from joblib import Memory
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification

from aesweep import AutoencoderFeatures
from aesweep.job import fit_and_score, prepare_job, run_job
from aesweep.pipelines import build_pipelines

from helpers import TINY, compose_config, run_cli, store_args, store_uri

pytestmark = pytest.mark.xdist_group("keras")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, _ = make_classification(n_samples=240, n_features=12, random_state=0)
    X = X.astype(np.float32)
    return X[:200], X[200:]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_resumed_training_equals_fresh_training(data, tmp_path: Path, jit_compile) -> None:
    X, X_val = data
    params = dict(bottleneck=3, batch_size=32, random_state=7, checkpoint_dir=str(tmp_path),
                  jit_compile=jit_compile)
    fresh = AutoencoderFeatures(bottleneck=3, batch_size=32, random_state=7, epochs=4,
                                jit_compile=jit_compile)
    fresh.fit(X, validation_data=X_val)
    first = AutoencoderFeatures(epochs=2, **params).fit(X, validation_data=X_val)
    resumed = AutoencoderFeatures(epochs=4, **params).fit(X, validation_data=X_val)

    assert first.resumed_from_epochs_ is None and resumed.resumed_from_epochs_ == 2
    assert resumed.jit_compile_ is jit_compile
    for a, b in zip(fresh.autoencoder_.get_weights(), resumed.autoencoder_.get_weights(),
                    strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(fresh.history_["loss"], resumed.history_["loss"], rtol=1e-5)
    assert len(resumed.history_["val_loss"]) == 4  # the whole curve, not the last 2 epochs
    np.testing.assert_allclose(fresh.transform(X), resumed.transform(X), atol=1e-5)


def test_checkpoint_key_changes_with_every_input_but_epochs(data) -> None:
    X, X_val = data
    base = AutoencoderFeatures(bottleneck=3, random_state=0)
    key = base._checkpoint_key(X, X_val)
    assert base.set_params(epochs=99, verbose=1)._checkpoint_key(X, X_val) == key
    for change in ({"bottleneck": 4}, {"random_state": 1}, {"batch_size": 16},
                   {"learning_rate": 0.01}, {"optimizer": "sgd"}, {"hidden_units": [8]},
                   {"activation": "relu"}, {"batch_norm": False}, {"dropout": 0.1}):
        other = AutoencoderFeatures(bottleneck=3, random_state=0).set_params(**change)
        assert other._checkpoint_key(X, X_val) != key, change
    assert base._checkpoint_key(X + 1e-3, X_val) != key
    assert base._checkpoint_key(X, None) != key


def test_cached_controls_equal_fresh_ones(tmp_path: Path) -> None:
    overrides = [*TINY, "trainer.epochs=1", "evaluation.bootstrap_resamples=0",
                 f"paths.root={tmp_path}"]
    fresh = run_job(prepare_job(compose_config([*overrides, "evaluation.cache_controls=false"])))
    assert not (tmp_path / "cache").exists()
    job = prepare_job(compose_config(overrides))
    first, second = run_job(job).metrics, run_job(job).metrics  # a miss, then a hit
    assert (tmp_path / "cache").is_dir()
    fresh = fresh.metrics
    for name in ("raw", "pca", "random"):
        for metric in ("accuracy", "f1", "roc_auc"):
            key = f"{name}_{metric}"
            assert fresh[key] == first[key] == second[key], key


def test_changing_a_control_input_misses_the_cache(tmp_path: Path) -> None:
    cfg = compose_config([*TINY, "trainer.epochs=1"])
    job = prepare_job(cfg)
    s = job.splits
    cached = Memory(str(tmp_path), verbose=0).cache(fit_and_score)

    def pca(config):
        return build_pipelines(config, job.estimator, *s.X_train.shape)["pca"]

    args = (s.X_train, s.y_train, s.X_val, s.y_val, s.X_test, s.y_test, job.task, 5)
    cached(pca(cfg), *args)
    assert cached.check_call_in_cache(pca(cfg), *args)
    bigger = compose_config([*TINY, "trainer.epochs=1", "architecture.bottleneck=5"])
    assert not cached.check_call_in_cache(pca(bigger), *args)  # k changed
    assert not cached.check_call_in_cache(pca(cfg), s.X_train[1:], s.y_train[1:], *args[2:])
    minmax = compose_config([*TINY, "trainer.epochs=1", "preprocessing.scaler=minmax"])
    assert not cached.check_call_in_cache(pca(minmax), *args)
    # Epochs are not an input of the PCA control: a sweep over epochs fits it once.
    longer = compose_config([*TINY, "trainer.epochs=7"])
    assert cached.check_call_in_cache(pca(longer), *args)


@pytest.mark.slow
def test_a_sweep_over_epochs_2_and_4_trains_4_epochs(tmp_path: Path) -> None:
    result = run_cli(["-m", "trainer.epochs=4,2", "tracking.log_model=false",
                      "evaluation.bootstrap_resamples=0", *TINY, *store_args(tmp_path)],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(store_uri(tmp_path))
    experiment = client.get_experiment_by_name("aesweep")
    runs = [r for r in client.search_runs([experiment.experiment_id])
            if "mlflow.parentRunId" in r.data.tags]
    by_epochs = {int(r.data.params["trainer.epochs"]): r for r in runs}
    # Written 4,2, run shortest first: the 4-epoch job resumed from the 2-epoch job's
    # checkpoint, so 4 epochs were trained in all.
    assert "resumed_from_epochs" not in by_epochs[2].data.tags
    assert by_epochs[4].data.tags["resumed_from_epochs"] == "2"
    for epochs, run in by_epochs.items():
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert [m.step for m in history] == list(range(1, epochs + 1))
    # The 2-epoch job's curve is the first two epochs of the 4-epoch job's.
    long, short = (client.get_metric_history(by_epochs[e].info.run_id, "train_loss")
                   for e in (4, 2))
    assert [m.value for m in short] == [m.value for m in long[:2]]
