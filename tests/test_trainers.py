"""Compiled trainers kept across models of one structure (``aesweep.trainers``): a model
trained on a kept trainer ends bit for bit where its own trainer would take it, for every
architecture; nothing is traced again; the model trained before is left alone; a kept
trainer holds no data; concurrent fits get trainers of their own. And the seeding that
keeps TensorFlow's kernel caches (``runtime.set_random_seed``) seeds as Keras's does."""

from __future__ import annotations

import random
import threading

import keras
import numpy as np
import pytest

from aesweep import AutoencoderFeatures, trainers
from aesweep.runtime import set_random_seed

pytestmark = pytest.mark.xdist_group("keras")

ARCHITECTURES = {
    "dense": {},
    "xla": {"jit_compile": True},  # the compiled executables are kept too
    "dropout": {"dropout": 0.2},  # seed-generator state travels with the model
    "denoising": {"noise_kind": "swap", "noise_level": 0.2},
    "sparse": {"l1": 1e-3},
    "variational": {"variational": True, "beta": 0.5},
    "mixed": {"categorical_blocks": (3, 2)},
    "conv": {"image_shape": (3, 4, 1), "filters": [4, 8]},
}


@pytest.fixture
def X() -> np.ndarray:
    X = np.random.default_rng(0).standard_normal((203, 12)).astype(np.float32)
    X[:, 7:10] = np.eye(3, dtype=np.float32)[np.arange(203) % 3]  # one-hot blocks (mixed)
    X[:, 10:] = np.eye(2, dtype=np.float32)[np.arange(203) % 2]
    return X


@pytest.fixture(autouse=True)
def no_kept_trainers():
    trainers.forget()
    yield
    trainers.forget()


def small(**params) -> AutoencoderFeatures:
    return AutoencoderFeatures(**{"bottleneck": 4, "hidden_units": [16, 8], "epochs": 3,
                                  "batch_size": 32, "random_state": 7, "jit_compile": False,
                                  **params})


def state(model: keras.Model) -> list[np.ndarray]:
    return [v.numpy() for v in trainers.model_state(model)]


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_a_kept_trainer_trains_bit_for_bit_what_a_fresh_one_does(X, arch) -> None:
    params = ARCHITECTURES[arch]
    fresh = small(**params).fit(X[:150], validation_data=X[150:])
    trainers.forget()
    small(**params, random_state=1).fit(X)  # the structure's trainer, now kept
    assert len(trainers._kept) == 1
    (kept,) = trainers._kept.values()
    traced = kept.trainer._steps.experimental_get_tracing_count()
    again = small(**params).fit(X[:150], validation_data=X[150:])
    assert kept.trainer._steps.experimental_get_tracing_count() == traced
    assert len(trainers._kept) == 1
    assert again.history_ == fresh.history_
    assert_same(state(again.autoencoder_), state(fresh.autoencoder_))
    np.testing.assert_array_equal(again.transform(X), fresh.transform(X))


def test_the_model_trained_before_is_left_alone(X) -> None:
    first = small().fit(X)
    before = state(first.autoencoder_)
    codes = first.transform(X)
    small(random_state=3, epochs=5).fit(X)
    assert_same(state(first.autoencoder_), before)
    np.testing.assert_array_equal(first.transform(X), codes)


def test_another_structure_gets_its_own_trainer(X) -> None:
    small().fit(X)
    small(bottleneck=3).fit(X)
    small(learning_rate=0.01).fit(X)
    assert len(trainers._kept) == 3


def test_a_kept_trainer_holds_no_data(X) -> None:
    small().fit(X)
    (kept,) = trainers._kept.values()
    assert kept.trainer.X is None and kept.trainer.X_val is None
    assert kept.trainer.chunk.size == 0


def test_at_most_max_kept_structures_are_kept(X) -> None:
    for bottleneck in range(1, trainers.MAX_KEPT + 3):
        small(bottleneck=bottleneck, epochs=1).fit(X)
    assert len(trainers._kept) == trainers.MAX_KEPT


def test_a_checkpoint_mid_training_holds_the_trained_state(X, tmp_path) -> None:
    """Saved at epoch 2 of 4 through a kept trainer: what 2 epochs afresh give."""
    fresh = small(epochs=2).fit(X)
    small(random_state=1).fit(X)  # the structure's trainer, now kept
    small(epochs=4, checkpoint_dir=str(tmp_path), checkpoint_epochs=(2,)).fit(X)
    restored = small(epochs=2, checkpoint_dir=str(tmp_path)).fit(X)
    assert restored.resumed_from_epochs_ == 2
    assert_same(state(restored.autoencoder_), state(fresh.autoencoder_))


def test_concurrent_fits_of_one_structure_get_trainers_of_their_own(X) -> None:
    small().fit(X)
    lent = []
    inside = threading.Barrier(2)

    def fit() -> None:
        model = small().fit(X).autoencoder_
        with trainers.lend(model, X, None, batch_size=32, seed=0, jit_compile=False) as lease:
            lent.append(lease.trainer)
            inside.wait(timeout=60)

    threads = [threading.Thread(target=fit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(lent) == 2 and lent[0] is not lent[1]


def draws() -> tuple:
    weights = keras.initializers.GlorotUniform()((3, 2))
    return (random.random(), np.random.rand(), np.array(keras.random.normal((2,))),
            np.array(weights))


def test_set_random_seed_seeds_as_keras_does() -> None:
    """Twice: the second call keeps TensorFlow's global seed (and its kernel caches)."""
    keras.utils.set_random_seed(11)
    expected = draws()
    for _ in range(2):
        set_random_seed(11)
        got = draws()
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)
    set_random_seed(12)
    assert draws()[0] != expected[0]
