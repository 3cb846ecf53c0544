"""The compiled training loop (``aesweep.training``): it trains exactly what ``model.fit``
would on the same batches, the data order is a pure function of (seed, epoch), chunking
and XLA change results by round-off only, and callbacks see every epoch."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from aesweep import AutoencoderFeatures
from aesweep.model import build_autoencoder
from aesweep.training import Trainer, epoch_order, train, use_xla

pytestmark = pytest.mark.xdist_group("keras")

# 203 rows: 6 full batches of 32 and a last batch of 11.
N_ROWS, N_FEATURES, BATCH = 203, 12, 32


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((N_ROWS, N_FEATURES)).astype(np.float32)


def fresh_model(seed: int = 3) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model, _ = build_autoencoder(N_FEATURES, 4, hidden_units=[16, 8])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def trained(X: np.ndarray, epochs: int = 3, **trainer_args) -> tuple[keras.Model, list[dict]]:
    model = fresh_model()
    trainer = Trainer(model, X, X[:50], batch_size=BATCH, seed=5,
                      **{"jit_compile": False, **trainer_args})
    return model, [trainer.epoch(e) for e in range(epochs)]


def test_epoch_order_is_a_permutation_fixed_by_seed_and_epoch() -> None:
    order = epoch_order(100, seed=1, epoch=2)
    assert sorted(order) == list(range(100))
    np.testing.assert_array_equal(order, epoch_order(100, seed=1, epoch=2))
    assert not np.array_equal(order, epoch_order(100, seed=1, epoch=3))
    assert not np.array_equal(order, epoch_order(100, seed=2, epoch=2))


def test_the_loop_trains_what_model_fit_trains_on_the_same_batches(X) -> None:
    """Feed ``model.fit`` the rows in our order, unshuffled: same batches, same updates,
    including the last, smaller batch. Weights and per-epoch losses must agree."""
    ours, logs = trained(X)
    reference = fresh_model()
    fit_losses = []
    for epoch in range(3):
        rows = X[epoch_order(N_ROWS, 5, epoch)]
        history = reference.fit(rows, rows, batch_size=BATCH, epochs=1, shuffle=False,
                                verbose=0, validation_data=(X[:50], X[:50]))
        fit_losses.append((history.history["loss"][0], history.history["val_loss"][0]))
    for a, b in zip(ours.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose([(e["loss"], e["val_loss"]) for e in logs], fit_losses,
                               rtol=1e-4)


@pytest.mark.parametrize("steps_per_call", [1, 4])
def test_chunking_does_not_change_training(X, steps_per_call) -> None:
    whole, logs = trained(X)  # all 6 full batches in one call
    chunked, chunked_logs = trained(X, steps_per_call=steps_per_call)
    for a, b in zip(whole.get_weights(), chunked.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert [e["loss"] for e in logs] == pytest.approx([e["loss"] for e in chunked_logs],
                                                      rel=1e-6)


def test_xla_changes_results_by_round_off_only(X) -> None:
    """Compare what the models compute, not their weights: a Dense bias feeding BatchNorm
    has a zero gradient up to round-off, which Adam scales up to full-size steps. Outputs
    (of order 1) may differ by a fraction of one Adam step (lr 1e-3)."""
    graph, logs = trained(X, jit_compile=False)
    xla, xla_logs = trained(X, jit_compile=True)
    np.testing.assert_allclose(graph.predict(X, verbose=0), xla.predict(X, verbose=0),
                               atol=5e-4)
    assert [e["loss"] for e in logs] == pytest.approx([e["loss"] for e in xla_logs], rel=1e-4)


def test_auto_compiles_with_xla_only_when_the_training_pays_for_it() -> None:
    model = fresh_model()
    assert not use_xla(None, model, rows=100, epochs=2, batch_size=32)
    # Many cheap steps: the dispatch XLA saves pays for compiling.
    assert use_xla(None, model, rows=10_000, epochs=100, batch_size=16)
    # Few, large steps: the math XLA saves pays for it.
    big, _ = build_autoencoder(500, 50)
    assert use_xla(None, big, rows=7000, epochs=50, batch_size=64)
    assert not use_xla(None, big, rows=500, epochs=2, batch_size=64)
    assert use_xla(True, model, rows=1, epochs=1, batch_size=1)
    assert not use_xla(False, model, rows=10**9, epochs=100, batch_size=1)


def test_callbacks_get_every_epoch_with_its_losses(X) -> None:
    seen: list[tuple[int, dict]] = []
    callback = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append((epoch, dict(logs))))
    history = train(fresh_model(), X, X[:50], start=1, stop=4, batch_size=BATCH, seed=0,
                    history={"loss": [9.0], "val_loss": [9.0]}, jit_compile=False,
                    callbacks=[callback])
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert [logs["loss"] for _, logs in seen] == history["loss"][1:]
    assert [logs["val_loss"] for _, logs in seen] == history["val_loss"][1:]
    assert history["loss"][0] == 9.0 and len(history["loss"]) == 4


def test_the_estimator_reports_how_it_compiled(X) -> None:
    small = AutoencoderFeatures(bottleneck=2, epochs=1, random_state=0).fit(X)
    assert small.jit_compile_ is False  # far too little work to win back compiling
    forced = AutoencoderFeatures(bottleneck=2, epochs=1, random_state=0, jit_compile=True)
    assert forced.fit(X).jit_compile_ is True


def test_a_new_model_per_job_does_not_warn_of_retracing(X, caplog) -> None:
    """A multirun builds one model per job; each traces once, which is not 'retracing'."""
    for _ in range(6):
        trained(X, epochs=1)
    assert "retracing" not in caplog.text
