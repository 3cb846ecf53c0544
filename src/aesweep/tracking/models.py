"""Each job's encoder as an MLflow pyfunc model that takes raw features, and its
registration in the MLflow Model Registry.

The logged model ``encoder`` is a :class:`RawFeaturesEncoder` holding the job's fitted
transform (the encoded pipeline's steps before its downstream model: the scaler, then the
encoder), pickled with it (the Keras encoder as its config and weights). Loading it needs
the ``aesweep`` package importable (the transform holds an
:class:`~aesweep.features.AutoencoderFeatures`, and the encoder aesweep's Keras objects).
"""

from __future__ import annotations

import copy
import functools
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from sklearn.pipeline import Pipeline

from aesweep.errors import AesweepError
from aesweep.names import (
    BOTTLENECK_PARAM,
    ENCODE_STEP,
    ENCODED,
    EPOCHS_PARAM,
    MODEL_STEP,
    SEED_PARAM,
    sign,
)
from aesweep.tracking.store import Store, fluent_api

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models import ModelSignature
    from mlflow.tracking import MlflowClient

    from aesweep.job import JobResult, PreparedJob
    from aesweep.report.model import Report

ENCODER_MODEL = "encoder"  # the logged model's name in each job's run
BEST_ALIAS = "best"
SOURCE_RUN_TAG = "aesweep.source_run_id"  # on a registered version: the run it came from
# What the model needs to load, listed rather than inferred: inferring costs seconds a job.
REQUIREMENTS = ("keras", "tensorflow", "tensorflow-cpu", "numpy", "pandas", "scikit-learn",
                "joblib", "cloudpickle")


# What MLflow says on every log_model of a PythonModel instance: the pickle is the point
# (the transform is a fitted scikit-learn object, as in MLflow's sklearn flavor), and once
# per job it would flood a sweep's log.
_PICKLE_NOTICE = "Passing a Python object as `python_model`"
# MLflow warns (UserWarning) when a signature comes without an input example; the example
# would cost a prediction per job, and the signature is explicit.
_NO_EXAMPLE = r".*An input example was not provided"


class EncoderError(AesweepError):
    """A run whose encoder cannot be registered (none logged, no such run)."""


# RawFeaturesEncoder's pickled state: its Keras encoder as JSON config and weights.
_ENCODER_CONFIG, _ENCODER_WEIGHTS = "encoder_config", "encoder_weights"


class RawFeaturesEncoder(mlflow.pyfunc.PythonModel):
    """Raw features (n_rows, n_features) -> bottleneck features (n_rows, bottleneck),
    float32: ``transform`` (see :func:`fitted_transform`), the job's fitted scaler then
    its encoder."""

    def __init__(self, transform: Pipeline) -> None:
        self.transform = transform

    def __getstate__(self) -> dict[str, Any]:
        """The transform without its Keras encoder, and the encoder as its config and
        weights: Keras's own pickling (a ``.keras`` archive with HDF5 weights) takes ~10x
        as long, and every job of a sweep pickles one."""
        step = self.transform.named_steps[ENCODE_STEP]
        encoder = getattr(step, "encoder_", None)
        if encoder is None:
            return dict(self.__dict__)
        bare = copy.copy(step)
        del bare.encoder_
        transform = Pipeline([(name, bare if name == ENCODE_STEP else other)
                              for name, other in self.transform.steps])
        return {**self.__dict__, "transform": transform, _ENCODER_CONFIG: encoder.to_json(),
                _ENCODER_WEIGHTS: encoder.get_weights()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        config, weights = state.pop(_ENCODER_CONFIG, None), state.pop(_ENCODER_WEIGHTS, None)
        self.__dict__.update(state)
        if config is None:  # logged before the encoder was pickled as config and weights
            return
        import aesweep.model  # noqa: F401  # registers aesweep's Keras layers and regularizers
        from aesweep.runtime import keras

        encoder = keras.models.model_from_json(config)
        encoder.set_weights(weights)
        self.transform.named_steps[ENCODE_STEP].encoder_ = encoder

    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> np.ndarray:
        # The signature's float64 columns, as the job saw them: float32, as a plain array
        # (the transform was fit on an array, so named columns would only warn).
        return self.transform.transform(np.asarray(model_input, dtype=np.float32))


@functools.cache
def installed(*names: str) -> tuple[str, ...]:
    """``name==version`` of each of ``names`` installed here; the others are left out.
    Cached: reading package metadata costs a few ms a package, and a sweep logs many."""
    found = []
    for name in names:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)


def fitted_transform(result: JobResult) -> Pipeline:
    """The encoded pipeline's fitted steps before its downstream model, with the encoder
    stripped of its decoder and optimizer state (not needed to transform; they triple the
    pickle and its time) and of this machine's checkpoint directory: raw
    (n, n_features) -> bottleneck (n, bottleneck)."""
    pipeline = result.pipelines[ENCODED]
    encoder = copy.copy(pipeline.named_steps[ENCODE_STEP])  # the job's stays whole
    del encoder.autoencoder_
    encoder.set_params(checkpoint_dir=None, checkpoint_epochs=())
    return Pipeline([(name, encoder if name == ENCODE_STEP else step)
                     for name, step in pipeline.steps if name != MODEL_STEP])


def signature(n_features: int, bottleneck: int) -> ModelSignature:
    """Input: ``n_features`` float columns, taken by position (so a DataFrame or an array);
    output: a float32 (n_rows, bottleneck) array."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    return ModelSignature(Schema([ColSpec("double") for _ in range(n_features)]),
                          Schema([TensorSpec(np.dtype(np.float32), (-1, bottleneck))]))


def log_encoder(store: Store, run_id: str, job: PreparedJob, result: JobResult,
                params: dict[str, str]) -> str:
    """Log the job's encoder as the pyfunc model ``encoder`` of run ``run_id`` and return
    the logged model's id: raw features in, bottleneck features out.

    The run is given by its id: no active run is started (whose end would mark the run
    FINISHED before the job is done) and ``MLFLOW_RUN_ID`` cannot redirect it. The model
    is created here, in the run's experiment, with the run's ``params`` and the tags
    MLflow gives a model (:func:`~aesweep.tracking.runs.context_tags`): without an active
    run, ``mlflow.pyfunc.log_model`` would put it in the fluent API's experiment."""
    from mlflow.models import Model

    from aesweep.tracking.runs import context_tags

    scaler = job.cfg.preprocessing.scaler.value
    encoder = result.encoder
    model = store.client.create_logged_model(store.experiment_id, name=ENCODER_MODEL,
                                             source_run_id=run_id, params=params,
                                             tags=context_tags())
    # The transform travels inside the model's pickle: as a separate artifact, MLflow
    # would copy it through its artifact download (and print a progress bar per job).
    # Model.log is what mlflow.pyfunc.log_model calls.
    with _quiet_log_model(), fluent_api(store.uri):
        Model.log(
            artifact_path=None, flavor=mlflow.pyfunc, run_id=run_id, model_id=model.model_id,
            python_model=RawFeaturesEncoder(fitted_transform(result)),
            # A mixed table's encoder sees the one-hot width; the model takes the table.
            signature=signature(job.dataset.X.shape[1], encoder.bottleneck),
            pip_requirements=list(installed(*REQUIREMENTS)),
            metadata={"input": f"raw features; applies preprocessing.scaler={scaler} fit "
                               f"on training rows, then the encoder",
                      "input_columns": list(job.dataset.feature_names),
                      "output": f"bottleneck features, float32 (n_rows, {encoder.bottleneck})",
                      "needs": "the aesweep package importable where it is loaded",
                      **_categorical_metadata(job)})
    return model.model_id


def _categorical_metadata(job: PreparedJob) -> dict[str, object]:
    """A mixed table's model takes each categorical column as its category code (NaN for a
    gap): the codes' categories, by column."""
    if not job.dataset.tabular:
        return {}
    return {"categorical_levels": job.dataset.levels,
            "missing_values": "NaN; imputed with the training rows' median or fill"}


@contextmanager
def _quiet_log_model() -> Iterator[None]:
    """Without MLflow's two per-call notices that do not apply here (see above)."""
    logger = logging.getLogger("mlflow.pyfunc")

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_PICKLE_NOTICE)

    logger.addFilter(keep)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _NO_EXAMPLE, UserWarning)
            yield
    finally:
        logger.removeFilter(keep)


def logged_encoder(client: MlflowClient, run_id: str) -> LoggedModel:
    """Run ``run_id``'s logged ``encoder``; :class:`EncoderError` if none."""
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise EncoderError(f"run {run_id}: no such run in the tracking store") from None
    model_ids = [output.model_id for output in run.outputs.model_outputs] if run.outputs else []
    for model_id in model_ids:
        model = client.get_logged_model(model_id)
        if model.name == ENCODER_MODEL:
            return model
    raise EncoderError(f"run {run_id} has no logged {ENCODER_MODEL!r} model (it ran with "
                       f"tracking.log_model=false?); re-run it with tracking.log_model=true")


def register_encoder(client: MlflowClient, run_id: str, name: str) -> ModelVersion:
    """Register run ``run_id``'s ``encoder`` as a new version of the registered model
    ``name`` (created if new), tagged with the run, and point the alias ``best`` at it."""
    model = logged_encoder(client, run_id)  # a clear error when there is none
    # MLflow's own registration (it also links the logged model to the version) goes
    # through the fluent API's tracking URI: this client's.
    with fluent_api(client.tracking_uri):
        version = mlflow.register_model(f"models:/{model.model_id}", name,
                                        tags={SOURCE_RUN_TAG: run_id})
    client.set_registered_model_alias(name, BEST_ALIAS, version.version)
    return version


def chosen_run(report: Report) -> pd.Series:
    """The run of the report's best cell with the best encoded score on what chose the
    cell (validation, else test): a row of ``report.runs``."""
    from aesweep.report.model import VAL_ENCODED

    runs, cell = report.runs, report.cells.loc[report.best]
    members = (pd.to_numeric(runs[BOTTLENECK_PARAM]) == cell["bottleneck"]) & (
        pd.to_numeric(runs[EPOCHS_PARAM]) == cell["epochs"])
    for param in report.extra:  # cells hold them as grouped: missing as ""
        members &= runs[param].fillna("").astype(str) == str(cell[param])
    score = runs.loc[members, ENCODED if report.selected_by == "test" else VAL_ENCODED]
    return runs.loc[(sign(report.metric) * score).idxmax()]


def register_best(report: Report, name: str) -> str:
    """Register the encoder of the report's chosen run (:func:`chosen_run`) as ``name``
    with the alias ``best``; return a line saying which run it came from."""
    from mlflow.tracking import MlflowClient

    run = chosen_run(report)
    version = register_encoder(report.client or MlflowClient(), run["run_id"], name)
    seed = f", seed {run[SEED_PARAM]}" if SEED_PARAM in run else ""
    return (f"registered encoder of run {run['run_id']} (bottleneck {run[BOTTLENECK_PARAM]}, "
            f"{run[EPOCHS_PARAM]} epochs{seed}) as models:/{name}@{BEST_ALIAS} "
            f"(version {version.version})")
