"""Mixed tables through whole jobs, in-process (TensorFlow, tiny data, a tmp SQLite store).

Proves that a mixed CSV and a Parquet file each log one FINISHED run with the loss parts
(MSE on numeric columns, cross-entropy on the one-hot blocks), that the autoencoder is
fit on exactly the training rows as preprocessed by a ColumnTransformer fit on them, and
that a bad table fails before any run is logged (a multirun's job: one FAILED run).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from aesweep.errors import ConfigError
from aesweep.features import AutoencoderFeatures
from aesweep.job import prepare_job, run_job
from aesweep.pipelines import make_preprocessing
from aesweep.task import JobContext, run_task

from helpers import compose_config, file_overrides, mixed_frame, write

pytestmark = pytest.mark.xdist_group("keras")

FAST = ["trainer.epochs=1", "tracking.log_model=false", "evaluation.bootstrap_resamples=0",
        "evaluation.controls=[]", "architecture.bottleneck=3", "trainer.batch_size=32"]
PARTS = ("recon_mse_numeric_test", "recon_xent_categorical_test",
         "recon_mse_numeric_val", "recon_xent_categorical_val")


def runs_in(root: Path) -> list:
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("aesweep")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


# No UserWarning: a file's dataset source once made MLflow warn on every job.
@pytest.mark.filterwarnings("error::UserWarning")
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_mixed_table_logs_one_finished_run_with_the_loss_parts(tmp_path: Path,
                                                                kind: str) -> None:
    path = write(mixed_frame(), tmp_path, kind)
    cfg = compose_config([*file_overrides(path, "dataset.categorical=auto"), *FAST,
                          f"paths.root={tmp_path}"])
    outcome = run_task(cfg, JobContext(overrides=["trainer.epochs=1"]))
    (run,) = runs_in(tmp_path)
    assert run.info.status == "FINISHED" and outcome.run_id == run.info.run_id
    metrics = run.data.metrics
    assert all(np.isfinite(metrics[key]) for key in PARTS)
    assert metrics["recon_xent_categorical_test"] > 0


def test_a_bad_table_in_a_multirun_logs_no_finished_run(tmp_path: Path) -> None:
    path = write(mixed_frame(), tmp_path)
    cfg = compose_config([*file_overrides(path, "dataset.categorical=[shade]"), *FAST,
                          f"paths.root={tmp_path}"])
    assert run_task(cfg, JobContext(overrides=["trainer.epochs=1"], job_num=1)) is None
    assert [run.info.status for run in runs_in(tmp_path)] == ["FAILED"]
    with pytest.raises(ConfigError, match=r"^dataset\.categorical"):
        run_task(cfg, JobContext())
    assert len(runs_in(tmp_path)) == 1


def test_the_autoencoder_sees_training_rows_preprocessed_from_training_rows_only(
        tmp_path: Path) -> None:
    calls: list[np.ndarray] = []
    original = AutoencoderFeatures.fit

    @functools.wraps(original)
    def spy(self, X, y=None, validation_data=None, **fit_params):
        calls.append(np.array(X, dtype=np.float32, copy=True))
        return original(self, X, y, validation_data=validation_data, **fit_params)

    path = write(mixed_frame(200), tmp_path)
    job = prepare_job(compose_config([*file_overrides(path, "dataset.categorical=auto"),
                                      *FAST, f"paths.root={tmp_path}"]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AutoencoderFeatures, "fit", spy)
        result = run_job(job)
    expected = make_preprocessing(job.cfg, job.dataset).fit_transform(job.splits.X_train)
    np.testing.assert_allclose(calls[0], expected, rtol=1e-6, atol=1e-6)
    fitted = result.pipelines["encoded"][0]
    train = job.splits.X_train[:, :2].astype(np.float64)
    np.testing.assert_allclose(fitted.named_transformers_["numeric"][0].statistics_,
                               np.nanmedian(train, axis=0))
    everything = job.dataset.X[:, :2].astype(np.float64)
    assert not np.allclose(fitted.named_transformers_["numeric"][1].mean_,
                           np.nanmean(everything, axis=0))


def test_the_logged_encoder_takes_the_table_as_codes_and_gaps(tmp_path: Path) -> None:
    from aesweep.names import ENCODED
    from aesweep.tracking.models import ENCODER_MODEL
    from aesweep.tracking.store import fluent_api

    recorded = []
    original = run_job

    def spy(job, on_epoch=None):
        recorded.append((job, original(job, on_epoch)))
        return recorded[-1][1]

    path = write(mixed_frame(), tmp_path, "parquet")
    cfg = compose_config([*file_overrides(path), *FAST, "tracking.log_model=true",
                          f"paths.root={tmp_path}"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("aesweep.task.run_job", spy)
        outcome = run_task(cfg, JobContext())
    job, result = recorded[0]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with fluent_api(uri):
        import mlflow.pyfunc
        loaded = mlflow.pyfunc.load_model(f"runs:/{outcome.run_id}/{ENCODER_MODEL}")
    levels = loaded.metadata.metadata["categorical_levels"]
    assert levels["color"] == ["blue", "green", "red"]
    assert len(loaded.metadata.get_input_schema().inputs) == 4  # the table, not the one-hot
    X = job.splits.X_test  # with gaps
    np.testing.assert_allclose(loaded.predict(X), result.pipelines[ENCODED][:-1].transform(X),
                               atol=1e-6)


def test_the_mixed_loss_is_mse_and_per_block_cross_entropy() -> None:
    from aesweep.mixedloss import MixedReconstructionLoss

    X = np.array([[1.0, 1, 0, 0, 1], [3.0, 0, 1, 1, 0]], np.float32)
    recon = np.array([[2.0, 0, 0, 0, 0], [3.0, 0, 0, 0, 0]], np.float32)
    per_row = np.asarray(MixedReconstructionLoss(1, [2, 2]).call(X, recon))
    # row 0: (1 + 2 log 2) / 3; row 1: (0 + 2 log 2) / 3
    np.testing.assert_allclose(per_row, [(1 + 2 * np.log(2)) / 3, 2 * np.log(2) / 3],
                               rtol=1e-6)


def test_a_mixed_table_trains_on_the_mixed_loss(tmp_path: Path) -> None:
    from aesweep.mixedloss import MixedReconstructionLoss

    path = write(mixed_frame(), tmp_path)
    job = prepare_job(compose_config([*file_overrides(path, "dataset.categorical=auto"),
                                      *FAST, "trainer.epochs=2", f"paths.root={tmp_path}"]))
    result = run_job(job)
    encoder = result.encoder
    assert encoder.categorical_blocks == (3, 2)  # color, then member (bool): column order
    loss = encoder.autoencoder_.loss
    assert isinstance(loss, MixedReconstructionLoss) and loss.n_numeric == 2
    assert all(np.isfinite(result.history["val_loss"]))
    # The resumed run reads its checkpoint back, custom loss included.
    again = run_job(prepare_job(compose_config([*file_overrides(path, "dataset.categorical=auto"),
                                                *FAST, "trainer.epochs=3",
                                                f"paths.root={tmp_path}"])))
    assert again.encoder.resumed_from_epochs_ == 2
    assert isinstance(again.encoder.autoencoder_.loss, MixedReconstructionLoss)


def test_the_controls_run_on_the_one_hot_width(tmp_path: Path) -> None:
    """PCA is capped by the transformed width (2 numbers + 3 + 2 levels = 7), not the
    table's 4 columns; the untrained encoder's control runs on the same matrix."""
    from aesweep.names import PCA_CAPPED_TAG

    path = write(mixed_frame(), tmp_path)
    job = prepare_job(compose_config([*file_overrides(path, "dataset.categorical=auto"),
                                      *FAST, "architecture.bottleneck=6",
                                      "evaluation.controls=[pca,random]",
                                      "evaluation.cache_controls=false",
                                      f"paths.root={tmp_path}"]))
    result = run_job(job)
    assert result.pipelines["pca"].named_steps["encode"].n_components == 6
    assert PCA_CAPPED_TAG not in result.tags
    assert {"pca_accuracy", "random_accuracy"} <= set(result.metrics)
