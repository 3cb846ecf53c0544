"""The ``denoising`` and ``sparse`` architectures: dense stays bit-identical, the noise is
a pure function of (seed, epoch, step) so resuming equals training afresh, features come
from clean inputs, and the L1 penalty enters the training loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aesweep import AutoencoderFeatures

pytestmark = pytest.mark.xdist_group("keras")

# Computed by the dense code before denoising and sparse existed (tests/dense_reference.json).
REFERENCE = json.loads((Path(__file__).parent / "dense_reference.json").read_text())
NOISES = [("gaussian", 0.3), ("masking", 0.25), ("swap", 0.2)]


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((203, 12)).astype(np.float32)


def small(**params) -> AutoencoderFeatures:
    return AutoencoderFeatures(**{"bottleneck": 4, "hidden_units": [16, 8], "epochs": 3,
                                  "batch_size": 32, "random_state": 7, "jit_compile": False,
                                  **params})


@pytest.mark.parametrize("jit", [False, True])
def test_dense_is_bit_identical_to_before(X, jit) -> None:
    ae = small(jit_compile=jit).fit(X, validation_data=X[:50])
    reference = REFERENCE[str(jit)]
    assert ae.history_["loss"] == reference["loss"]
    assert ae.history_["val_loss"] == reference["val_loss"]
    weights = ae.autoencoder_.get_weights()
    assert [float(np.asarray(w, np.float64).sum()) for w in weights] == reference["weight_sums"]
    assert np.asarray(weights[0]).ravel()[:5].tolist() == reference["first"]


@pytest.mark.parametrize(("kind", "level"), NOISES)
def test_a_resumed_denoising_run_equals_a_fresh_one(X, tmp_path, kind, level) -> None:
    noise = {"noise_kind": kind, "noise_level": level}
    fresh = small(epochs=4, **noise).fit(X, validation_data=X[:50])
    small(epochs=2, checkpoint_dir=tmp_path, **noise).fit(X, validation_data=X[:50])
    resumed = small(epochs=4, checkpoint_dir=tmp_path, **noise).fit(X, validation_data=X[:50])
    assert resumed.resumed_from_epochs_ == 2
    np.testing.assert_allclose(resumed.history_["loss"], fresh.history_["loss"], atol=1e-5)
    for a, b in zip(resumed.autoencoder_.get_weights(), fresh.autoencoder_.get_weights(),
                    strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize(("kind", "level"), NOISES)
def test_noise_changes_training_but_not_validation_inputs(X, kind, level) -> None:
    dense = small().fit(X, validation_data=X[:50])
    noisy = small(noise_kind=kind, noise_level=level).fit(X, validation_data=X[:50])
    assert noisy.history_["loss"] != dense.history_["loss"]
    # Validation loss is the clean reconstruction error, as reconstruction_error measures it.
    np.testing.assert_allclose(noisy.history_["val_loss"][-1],
                               noisy.reconstruction_error(X[:50]), rtol=1e-5)
    # transform is deterministic: clean inputs, inference mode.
    np.testing.assert_array_equal(noisy.transform(X[:20]), noisy.transform(X[:20]))


def test_zero_noise_is_dense(X) -> None:
    dense = small().fit(X)
    zero = small(noise_kind="gaussian", noise_level=0.0).fit(X)
    assert zero.history_["loss"] == dense.history_["loss"]


@pytest.mark.parametrize(("params", "name"), [
    ({"noise_kind": "salt"}, "noise_kind"),
    ({"noise_kind": "masking", "noise_level": 1.5}, "noise_level"),
    ({"noise_level": -0.1}, "noise_level"),
    ({"l1": -1.0}, "l1"),
])
def test_bad_noise_and_l1_params_are_named(X, params, name) -> None:
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        small(**params).fit(X)
