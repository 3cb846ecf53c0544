"""``aesweep.AutoencoderFeatures`` as a scikit-learn transformer (in-process, TensorFlow).

Proves the output shape and dtype (the input's float dtype), the training history, the
untrained ``epochs=0`` encoder, feature names, that the encoder is cropped from the
autoencoder at the bottleneck, that a row's embedding does not depend on the rows around
it, that every parameter is checked against its range before training, that diverging
training stops with an error, and that the estimator follows scikit-learn's contract: it
fits and predicts inside a ``Pipeline``, survives ``clone`` and ``GridSearchCV``,
round-trips its params and is reproducible for a fixed ``random_state``. The full
``check_estimator`` suite is in ``test_estimator_checks.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aesweep import AutoencoderFeatures
from aesweep.features import ACTIVATIONS, OPTIMIZER_NAMES
from aesweep.ranges import Interval

# One worker imports TensorFlow for all of these.
pytestmark = pytest.mark.xdist_group("keras")

N, N_FEATURES, K, EPOCHS = 300, 20, 3, 2


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=N, n_features=N_FEATURES, n_informative=5,
                               n_redundant=5, class_sep=2.0, random_state=0)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    return AutoencoderFeatures(bottleneck=K, epochs=EPOCHS, batch_size=32, random_state=0).fit(X)


@pytest.fixture(scope="module")
def fitted_with_val(data):
    X, _ = data
    # Same rows and seed as `fitted`, plus validation rows that are only monitored.
    return AutoencoderFeatures(bottleneck=K, epochs=EPOCHS, batch_size=32, random_state=0).fit(
        X, validation_data=X[240:])


def test_transform_shape_and_dtype(fitted, data):
    X, _ = data
    Z = fitted.transform(X)
    assert Z.shape == (N, K)
    assert Z.dtype == np.float32
    assert np.isfinite(Z).all()
    assert fitted.n_features_in_ == N_FEATURES
    # Computed in float32, returned in the input's float dtype; other input: float64.
    Z64 = fitted.transform(X.astype(np.float64))
    assert Z64.dtype == np.float64
    np.testing.assert_array_equal(Z64, Z)
    assert fitted.transform(X[:2].tolist()).dtype == np.float64
    assert fitted.reconstruct(X[:3]).dtype == np.float32
    assert fitted.reconstruct(X[:3].astype(np.float64)).dtype == np.float64
    assert AutoencoderFeatures(bottleneck=K, epochs=0, random_state=0).fit_transform(
        X.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("activation", ["sigmoid", "swish", "elu", "selu", "gelu"])
def test_a_rows_embedding_does_not_depend_on_the_other_rows(activation):
    # CPU kernels of these activations round the last partial SIMD packet differently:
    # unpadded, permuting 20 rows changed some embeddings in the last bit.
    X = 3 * np.random.RandomState(0).uniform(size=(40, 3))
    est = AutoencoderFeatures(bottleneck=3, activation=activation, epochs=0,
                              random_state=0).fit(X)
    for method in (est.transform, est.reconstruct):
        full = method(X)
        for n in (20, 37):
            order = np.random.RandomState(n).permutation(n)
            np.testing.assert_array_equal(method(X[:n][order]), full[:n][order])
        for start, stop in ((0, 1), (5, 6), (3, 20), (19, 40)):
            np.testing.assert_array_equal(method(X[start:stop]), full[start:stop])


def test_history_has_one_loss_per_epoch_and_no_val_loss_without_validation(fitted):
    assert len(fitted.history_["loss"]) == EPOCHS
    assert "val_loss" not in fitted.history_
    assert all(np.isfinite(v) and v > 0 for v in fitted.history_["loss"])


def test_val_loss_only_with_validation_data(fitted_with_val, data):
    X, _ = data
    history = fitted_with_val.history_
    assert len(history["loss"]) == EPOCHS
    assert len(history["val_loss"]) == EPOCHS
    # The last val_loss is the reconstruction MSE on the validation rows (no dropout).
    assert history["val_loss"][-1] == pytest.approx(
        fitted_with_val.reconstruction_error(X[240:]), rel=1e-3)


def test_validation_data_never_updates_the_weights(fitted_with_val, fitted, data):
    X, _ = data
    np.testing.assert_allclose(fitted_with_val.transform(X), fitted.transform(X), atol=1e-5)
    np.testing.assert_allclose(fitted_with_val.history_["loss"], fitted.history_["loss"],
                               rtol=1e-5)


def test_validation_data_with_wrong_width_is_rejected(data):
    X, _ = data
    with pytest.raises(ValueError, match="features"):
        AutoencoderFeatures(bottleneck=K, epochs=1).fit(X, validation_data=X[:, :5])


def test_epochs_zero_is_an_untrained_encoder_that_still_transforms(data, fitted):
    X, _ = data
    untrained = AutoencoderFeatures(bottleneck=K, epochs=0, random_state=0).fit(X)
    assert "loss" not in untrained.history_
    Z = untrained.transform(X)
    assert Z.shape == (N, K) and Z.dtype == np.float32 and np.isfinite(Z).all()
    # Seeded initial weights: the same seed gives the same untrained encoder...
    again = AutoencoderFeatures(bottleneck=K, epochs=0, random_state=0).fit(X)
    np.testing.assert_allclose(again.transform(X), Z, atol=1e-6)
    # ...and training moves it away from there.
    assert not np.allclose(fitted.transform(X), Z, atol=1e-3)


def test_feature_names_out(fitted):
    names = fitted.get_feature_names_out()
    assert len(names) == K
    assert len(set(names)) == K


def test_encoder_is_the_autoencoder_cropped_at_the_bottleneck(fitted, data):
    X, _ = data
    encoder, autoencoder = fitted.encoder_, fitted.autoencoder_
    assert tuple(encoder.input_shape) == (None, N_FEATURES)
    assert tuple(encoder.output_shape) == (None, K)
    assert tuple(autoencoder.output_shape) == (None, N_FEATURES)
    shared = {id(w) for w in autoencoder.weights}
    assert encoder.weights and all(id(w) in shared for w in encoder.weights)
    assert len(encoder.weights) < len(autoencoder.weights)
    assert fitted.reconstruct(X[:7]).shape == (7, N_FEATURES)
    assert fitted.score(X) == pytest.approx(-fitted.reconstruction_error(X))


def test_hidden_units_set_the_encoder_widths(data):
    X, _ = data
    est = AutoencoderFeatures(bottleneck=2, hidden_units=[8], epochs=1, batch_norm=False,
                              random_state=0).fit(X)
    kernels = [w for w in est.encoder_.weights if len(w.shape) == 2]
    assert [tuple(k.shape) for k in kernels] == [(N_FEATURES, 8), (8, 2)]
    assert est.transform(X).shape == (N, 2)


def test_transform_before_fit_raises(data):
    X, _ = data
    with pytest.raises(NotFittedError):
        AutoencoderFeatures().transform(X)


def test_same_random_state_gives_the_same_embeddings(fitted, data):
    X, _ = data
    again = AutoencoderFeatures(bottleneck=K, epochs=EPOCHS, batch_size=32, random_state=0)
    np.testing.assert_allclose(again.fit_transform(X), fitted.transform(X), atol=1e-5)
    np.testing.assert_allclose(again.history_["loss"], fitted.history_["loss"], rtol=1e-5)
    # A different seed starts from different weights.
    seed0 = AutoencoderFeatures(bottleneck=K, epochs=0, random_state=0).fit_transform(X)
    seed1 = AutoencoderFeatures(bottleneck=K, epochs=0, random_state=1).fit_transform(X)
    assert not np.allclose(seed0, seed1, atol=1e-3)


def test_get_params_set_params_round_trip():
    est = AutoencoderFeatures(bottleneck=5, hidden_units=[16, 8], activation="relu",
                              batch_norm=False, dropout=0.1, optimizer="sgd",
                              learning_rate=0.01, epochs=3, batch_size=16, random_state=7)
    params = est.get_params()
    given = {"bottleneck": 5, "hidden_units": [16, 8], "activation": "relu",
             "batch_norm": False, "dropout": 0.1, "optimizer": "sgd",
             "learning_rate": 0.01, "epochs": 3, "batch_size": 16, "random_state": 7}
    assert {key: params[key] for key in given} == given
    other = AutoencoderFeatures().set_params(**params)
    assert other.get_params() == params
    assert other.set_params(bottleneck=9) is other and other.bottleneck == 9
    with pytest.raises(ValueError):
        other.set_params(no_such_param=1)


def test_clone_keeps_params_and_drops_fitted_state(fitted, data):
    X, _ = data
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert copy is not fitted
    for attribute in ("encoder_", "autoencoder_", "history_", "n_features_in_"):
        assert hasattr(fitted, attribute)
        assert not hasattr(copy, attribute)
    with pytest.raises(NotFittedError):
        copy.transform(X)
    # The original is untouched and still transforms.
    assert fitted.transform(X[:3]).shape == (3, K)


def test_inside_a_pipeline_with_a_classifier(data):
    X, y = data
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    pipe = make_pipeline(StandardScaler(),
                         AutoencoderFeatures(bottleneck=K, epochs=EPOCHS, random_state=0),
                         LogisticRegression())
    pipe.fit(X_train, y_train)
    predictions = pipe.predict(X_test)
    assert predictions.shape == (len(X_test),)
    assert set(predictions) <= set(y)
    assert pipe.predict_proba(X_test).shape == (len(X_test), 2)
    assert pipe[-1].n_features_in_ == K  # the classifier sees the bottleneck only
    assert list(pipe[:-1].get_feature_names_out()) == list(pipe[1].get_feature_names_out())
    assert pipe.score(X_test, y_test) > 0.6  # well-separated classes: better than chance


def test_grid_search_clones_and_refits(data):
    X, y = data
    search = GridSearchCV(
        make_pipeline(AutoencoderFeatures(epochs=1, random_state=0), LogisticRegression()),
        {"autoencoderfeatures__bottleneck": [2, 4]},
        cv=[(np.arange(80), np.arange(80, 120))])  # one split: 2 candidates + the refit
    search.fit(X[:120], y[:120])
    assert search.best_params_["autoencoderfeatures__bottleneck"] in (2, 4)
    assert search.best_estimator_[0].transform(X[:4]).shape == (
        4, search.best_params_["autoencoderfeatures__bottleneck"])


SEEDS = Interval(int, 0, 2**32 - 1)  # how its wide bound prints is up to aesweep.ranges
# One bad value per parameter, and the message after "The '<name>' parameter of ...".
BAD_PARAMS = [
    ("bottleneck", 0, "must be >= 1, got 0"),
    ("bottleneck", 2.0, "must be an integer, got 2.0"),
    ("hidden_units", [16, 0], "widths must be >= 1, got [16, 0]"),
    ("hidden_units", [16, 2.5], "widths must be integers, got [16, 2.5]"),
    ("hidden_units", 16, "must be a sequence of integers or None, got 16"),
    ("activation", "softmax", "must be one of " + ", ".join(ACTIVATIONS) + ", got 'softmax'"),
    ("batch_norm", "yes", "must be a bool, got 'yes'"),
    ("dropout", 1.0, "must be in [0, 1), got 1.0"),
    ("dropout", -0.1, "must be in [0, 1), got -0.1"),
    ("optimizer", "nadam", "must be one of adam, adamw, sgd, rmsprop, got 'nadam'"),
    ("learning_rate", 0.0, "must be > 0, got 0.0"),
    ("learning_rate", float("nan"), "must be > 0, got nan"),
    ("learning_rate", "0.1", "must be a number, got '0.1'"),
    ("epochs", -1, "must be >= 0, got -1"),
    ("batch_size", 0, "must be >= 1, got 0"),
    ("random_state", -1, SEEDS.problem(-1)),
    ("random_state", 2**32, SEEDS.problem(2**32)),
    ("verbose", -1, "must be >= 0, got -1"),
    ("jit_compile", 1, "must be a bool or None, got 1"),
    ("checkpoint_dir", 3, "must be a str or os.PathLike or None, got 3"),
    ("checkpoint_epochs", [0, 5], "epoch counts must be >= 1, got [0, 5]"),
    ("checkpoint_epochs", 5, "must be a sequence of integers, got 5"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_PARAMS,
                         ids=[f"{name}={value!r}" for name, value, _ in BAD_PARAMS])
def test_fit_rejects_a_parameter_out_of_range(name, value, message):
    X = np.zeros((4, 3))
    est = AutoencoderFeatures(**{"epochs": 1, name: value})
    assert est.find_invalid_param() == (name, message)
    expected = f"The {name!r} parameter of AutoencoderFeatures {message}."
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        est.fit(X)  # e.g. batch_size=0 no longer divides by zero in training


def test_valid_params_pass_the_check(tmp_path):
    assert AutoencoderFeatures().find_invalid_param() is None
    est = AutoencoderFeatures(
        bottleneck=np.int64(3), hidden_units=(), activation="tanh", batch_norm=np.bool_(False),
        dropout=0, optimizer="rmsprop", learning_rate=1, epochs=0, batch_size=1,
        random_state=2**32 - 1, verbose=2, jit_compile=False, checkpoint_dir=tmp_path,
        checkpoint_epochs=[1, 2])
    assert est.find_invalid_param() is None
    assert est.set_params(hidden_units=[8, 4], checkpoint_dir=str(tmp_path),
                          dropout=0.5).find_invalid_param() is None


def test_the_first_bad_parameter_is_reported():
    est = AutoencoderFeatures(bottleneck=0, batch_size=0)
    assert est.find_invalid_param() == ("batch_size", "must be >= 1, got 0")  # alphabetical


def test_the_options_are_the_ones_keras_and_the_config_offer():
    import keras

    from aesweep.config.schema import Activation, OptimizerName
    from aesweep.model import OPTIMIZERS

    assert set(OPTIMIZER_NAMES) == set(OPTIMIZERS) == set(OptimizerName)
    assert set(ACTIVATIONS) == set(Activation)
    for name in ACTIVATIONS:
        assert callable(keras.activations.get(name))


def test_features_import_without_tensorflow():
    check = ("import sys; from aesweep.features import AutoencoderFeatures; "
             "assert AutoencoderFeatures(bottleneck=0).find_invalid_param(); "
             "assert not {'keras', 'tensorflow'} & set(sys.modules), 'TensorFlow imported'")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_diverging_training_stops_with_an_error(data, tmp_path):
    X, _ = data
    # Plain SGD at this rate blows up in the first epoch (NaN loss), BatchNorm or not.
    est = AutoencoderFeatures(bottleneck=K, optimizer="sgd", learning_rate=1e4, epochs=3,
                              random_state=0, checkpoint_dir=tmp_path)
    with pytest.raises(FloatingPointError, match=r"diverged: the loss is nan after epoch 1;"
                                                 r".*learning_rate=10000\.0"):
        est.fit(X)
    assert not list(Path(tmp_path).rglob("*.keras"))  # no checkpoint of the diverged weights
