"""``aesweep.AutoencoderFeatures`` as a scikit-learn transformer (in-process, TensorFlow).

Proves the output shape and dtype, the training history, the untrained ``epochs=0``
encoder, feature names, that the encoder is cropped from the autoencoder at the
bottleneck, and that the estimator follows scikit-learn's contract: it fits and predicts
inside a ``Pipeline``, survives ``clone`` and ``GridSearchCV``, round-trips its params
and is reproducible for a fixed ``random_state``.
"""

from __future__ import annotations

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
    # Float64 and list input are accepted too.
    assert fitted.transform(X[:5].astype(np.float64)).shape == (5, K)
    assert fitted.transform(X[:2].tolist()).shape == (2, K)


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
