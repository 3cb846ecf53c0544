"""No leakage through ``aesweep.job.run_job`` (in-process, TensorFlow, tiny data).

Every fitted transform sees training rows only: each pipeline's scaler holds the
statistics of the training rows (not of all rows), every ``AutoencoderFeatures.fit``
receives exactly the scaled training rows (validation rows only as ``validation_data``),
other fitted encoders (PCA) are centred on training rows, and a regression target scaler
is fit on training targets while metrics stay in the target's original units.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn import metrics
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from aesweep.features import AutoencoderFeatures
from aesweep.job import prepare_job, run_job

from helpers import TINY, compose_config

pytestmark = pytest.mark.xdist_group("keras")


def run_spied(overrides: list[str]):
    """Run one job in-process; record what every AutoencoderFeatures.fit received."""
    calls: list[dict] = []
    original = AutoencoderFeatures.fit

    @functools.wraps(original)
    def spy(self, X, y=None, validation_data=None, **fit_params):
        calls.append({"X": np.array(X, dtype=np.float32, copy=True), "epochs": self.epochs,
                      "val": None if validation_data is None
                      else np.array(validation_data, dtype=np.float32, copy=True)})
        return original(self, X, y, validation_data=validation_data, **fit_params)

    job = prepare_job(compose_config(overrides))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AutoencoderFeatures, "fit", spy)
        result = run_job(job)
    return job, result, calls


@pytest.fixture(scope="module")
def classification():
    return run_spied([*TINY, "seed=3", "architecture.bottleneck=4", "trainer.epochs=2",
                      "trainer.batch_size=32"])


@pytest.fixture(scope="module")
def minmax():
    return run_spied([*TINY, "dataset.n_samples=200", "preprocessing.scaler=minmax",
                      "architecture.bottleneck=3", "trainer.epochs=1"])


@pytest.fixture(scope="module")
def regression():
    return run_spied(["dataset=diabetes", "preprocessing.target_scaler=standard",
                      "architecture.bottleneck=3", "trainer.epochs=1"])


def scalers(result):
    found = {name: p.named_steps["scale"] for name, p in result.pipelines.items()}
    assert {"raw", "encoded"} <= set(found)
    return found


@pytest.mark.parametrize("fixture", ["classification", "regression"])
def test_standard_scalers_hold_training_statistics_only(request, fixture):
    job, result, _ = request.getfixturevalue(fixture)
    train_only = StandardScaler().fit(job.splits.X_train)
    all_rows = StandardScaler().fit(job.dataset.X)
    assert not np.allclose(train_only.mean_, all_rows.mean_, rtol=0, atol=1e-6)
    assert not np.allclose(train_only.scale_, all_rows.scale_, rtol=0, atol=1e-6)
    for name, scaler in scalers(result).items():
        assert scaler.n_samples_seen_ == len(job.splits.X_train), name
        np.testing.assert_allclose(scaler.mean_, train_only.mean_, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(scaler.scale_, train_only.scale_, rtol=1e-6, err_msg=name)


def test_minmax_scalers_hold_training_statistics_only(minmax):
    job, result, _ = minmax
    train_only = MinMaxScaler().fit(job.splits.X_train)
    all_rows = MinMaxScaler().fit(job.dataset.X)
    assert not np.allclose(train_only.data_min_, all_rows.data_min_)
    for name, scaler in scalers(result).items():
        assert isinstance(scaler, MinMaxScaler), name
        np.testing.assert_array_equal(scaler.data_min_, train_only.data_min_, err_msg=name)
        np.testing.assert_array_equal(scaler.data_max_, train_only.data_max_, err_msg=name)


@pytest.mark.parametrize("fixture", ["classification", "minmax", "regression"])
def test_autoencoders_are_fit_on_scaled_training_rows_only(request, fixture):
    job, result, calls = request.getfixturevalue(fixture)
    scale = result.pipelines["encoded"].named_steps["scale"]
    X_train = scale.transform(job.splits.X_train)
    X_val = scale.transform(job.splits.X_val)
    assert calls, "run_job never fit an AutoencoderFeatures"
    for call in calls:
        np.testing.assert_allclose(call["X"], X_train, rtol=1e-5, atol=1e-6)
    # The trained encoder is monitored on the validation rows, scaled with train statistics.
    trained = [c for c in calls if c["epochs"] == job.cfg.trainer.epochs]
    assert len(trained) == 1
    np.testing.assert_allclose(trained[0]["val"], X_val, rtol=1e-5, atol=1e-6)
    assert len(result.history["val_loss"]) == job.cfg.trainer.epochs


def test_the_pca_control_is_centred_on_training_rows(classification):
    job, result, _ = classification
    pca = result.pipelines["pca"]  # the default controls include PCA: a KeyError fails
    scaled = pca.named_steps["scale"].transform(job.splits.X_train)
    np.testing.assert_allclose(pca.named_steps["encode"].mean_, scaled.mean(axis=0), atol=1e-5)


def test_downstream_models_see_raw_or_bottleneck_features(classification):
    job, result, _ = classification
    assert result.pipelines["raw"].named_steps["model"].n_features_in_ == 20
    assert result.pipelines["encoded"].named_steps["model"].n_features_in_ == 4
    assert result.encoder.transform(job.splits.X_test[:5]).shape == (5, 4)


def test_history_and_metrics_of_a_classification_job(classification):
    job, result, _ = classification
    assert len(result.history["loss"]) == 2 and len(result.history["val_loss"]) == 2
    m = result.metrics
    for key in ("recon_mse_val", "recon_mse_test", "train_seconds"):
        assert np.isfinite(m[key]) and m[key] >= 0
    for prefix in ("raw", "encoded"):
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            assert 0 <= m[f"{prefix}_{name}"] <= 1
    # The reported test metrics are those of the fitted pipelines on the test rows.
    raw = result.pipelines["raw"]
    assert m["raw_accuracy"] == pytest.approx(
        metrics.accuracy_score(job.splits.y_test, raw.predict(job.splits.X_test)))
    encoder = result.encoder
    assert m["recon_mse_test"] == pytest.approx(encoder.reconstruction_error(
        result.pipelines["encoded"].named_steps["scale"].transform(job.splits.X_test)), rel=1e-5)


def test_target_scaler_is_fit_on_training_targets_and_metrics_stay_in_target_units(regression):
    job, result, _ = regression
    s = job.splits
    for name in ("raw", "encoded"):
        model = result.pipelines[name].named_steps["model"]
        transformer = model.transformer_
        assert transformer.mean_[0] == pytest.approx(s.y_train.mean()), name
        assert transformer.mean_[0] != pytest.approx(job.dataset.y.mean()), name
    raw = result.pipelines["raw"]
    predictions = raw.predict(s.X_test)
    assert predictions.mean() == pytest.approx(s.y_test.mean(), rel=0.2)  # original units
    m = result.metrics
    assert m["raw_rmse"] == pytest.approx(metrics.root_mean_squared_error(s.y_test, predictions))
    assert m["raw_mae"] == pytest.approx(metrics.mean_absolute_error(s.y_test, predictions))
    assert m["raw_r2"] == pytest.approx(metrics.r2_score(s.y_test, predictions))
    assert m["encoded_rmse"] > 5  # diabetes targets are ~25..346: not standardised units


def test_validation_scores_are_the_fitted_pipelines_on_the_validation_rows(classification):
    job, result, _ = classification
    s, m = job.splits, result.metrics
    assert result.tags["aesweep.validation"] == "holdout"
    for name, pipeline in result.pipelines.items():
        assert m[f"val_{name}_accuracy"] == pytest.approx(
            metrics.accuracy_score(s.y_val, pipeline.predict(s.X_val))), name


def test_validation_labels_only_score_and_never_fit_anything() -> None:
    """Scrambling the validation labels changes validation scores and nothing else."""
    job = prepare_job(compose_config([*TINY, "trainer.epochs=1",
                                      "evaluation.cache_controls=false"]))
    honest = run_job(job)
    job.splits.y_val = 1 - job.splits.y_val
    scrambled = run_job(job)
    validation = {k for k in honest.metrics if k.startswith("val_")}
    assert validation and all(scrambled.metrics[k] != honest.metrics[k] for k in validation
                              if k.endswith("accuracy"))
    unchanged = set(honest.metrics) - validation - {"train_seconds"}
    assert {k: scrambled.metrics[k] for k in unchanged} == pytest.approx(
        {k: honest.metrics[k] for k in unchanged}, abs=1e-6)


def test_without_validation_rows_cross_validation_on_training_rows() -> None:
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    job, result, calls = run_spied([*TINY, "split.val_size=0", "evaluation.cv_folds=3",
                                    "trainer.epochs=1"])
    s = job.splits
    assert s.X_val is None and result.tags["aesweep.validation"] == "cv3"
    assert all(call["val"] is None for call in calls)
    for name, pipeline in result.pipelines.items():
        features, model = pipeline[:-1].transform(s.X_train), pipeline[-1]
        scores = [metrics.accuracy_score(s.y_train[held], clone(model).fit(
            features[fit], s.y_train[fit]).predict(features[held]))
            for fit, held in StratifiedKFold(3).split(features, s.y_train)]
        assert result.metrics[f"val_{name}_accuracy"] == pytest.approx(np.mean(scores)), name
