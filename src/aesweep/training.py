"""The autoencoder's training loop and its checkpoints.

The order of the training rows is a pure function of (seed, epoch), and a checkpoint holds
the weights, the optimizer state and the loss history. So a run resumed from E' epochs
and trained to E equals a fresh E-epoch run, and a sweep over epochs trains each config
once, to its largest epoch count.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

History = dict[str, list[float]]


def epoch_batches(X: tf.Tensor, batch_size: int, seed: int, epoch: int) -> tf.data.Dataset:
    """One epoch of ``(x, x)`` batches in an order fixed by ``(seed, epoch)`` alone.

    Rows are gathered per batch from ``X`` (n_samples, n_features): no shuffled copy.
    """
    n = int(X.shape[0])
    order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=[seed, epoch])
    return (tf.data.Dataset.from_tensor_slices(order)
            .batch(batch_size)
            .map(lambda rows: (tf.gather(X, rows), tf.gather(X, rows)))
            .prefetch(tf.data.AUTOTUNE)
            .with_options(_OPTIONS))


def _batched(X: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Validation rows as ``(x, x)`` batches, in order."""
    return tf.data.Dataset.from_tensor_slices((X, X)).batch(batch_size).with_options(_OPTIONS)


# tf.data would parallelise maps; this CPU build then logs an error line per process.
_OPTIONS = tf.data.Options()
_OPTIONS.experimental_optimization.map_parallelization = False


def train(model: keras.Model, X: np.ndarray, X_val: np.ndarray | None, *, start: int,
          stop: int, batch_size: int, seed: int, history: History, verbose: int = 0,
          on_epoch_end: Callable[[int, History], None] | None = None) -> History:
    """Train epochs ``start`` .. ``stop - 1`` and return the whole history (from epoch 0).

    ``on_epoch_end(epochs_done, history)`` runs after each epoch, e.g. to checkpoint.
    """
    history = {key: list(values) for key, values in history.items()}
    if start >= stop:
        return history
    X_tensor = tf.constant(X)
    val = None if X_val is None else _batched(X_val, max(batch_size, 1024))
    steps = math.ceil(len(X) / batch_size)
    for epoch in range(start, stop):
        result = model.fit(epoch_batches(X_tensor, batch_size, seed, epoch), epochs=epoch + 1,
                           initial_epoch=epoch, steps_per_epoch=steps, shuffle=False,
                           validation_data=val, verbose=verbose)
        for key, values in result.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)
    return history


class Checkpoints:
    """Saved states of one training config (everything but the epoch count), by epochs."""

    def __init__(self, root: str | os.PathLike[str], key: str) -> None:
        self.directory = Path(root) / key

    def _model(self, epochs: int) -> Path:
        return self.directory / f"epochs_{epochs}.keras"

    def _history(self, epochs: int) -> Path:
        return self.directory / f"epochs_{epochs}.history.json"

    def best(self, at_most: int) -> int | None:
        """The largest saved epoch count <= ``at_most``, if any."""
        saved = [int(p.name.split("_")[1].split(".")[0])
                 for p in self.directory.glob("epochs_*.history.json")] if (
            self.directory.is_dir()) else []
        fitting = [e for e in saved if e <= at_most and self._model(e).is_file()]
        return max(fitting, default=None)

    def save(self, model: keras.Model, epochs: int, history: History) -> None:
        """Write atomically: a reader never sees a half-written checkpoint."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".tmp-{os.getpid()}-{epochs}"
        model.save(f"{tmp}.keras")
        Path(f"{tmp}.json").write_text(json.dumps(history))
        os.replace(f"{tmp}.keras", self._model(epochs))
        os.replace(f"{tmp}.json", self._history(epochs))  # written last: marks it complete

    def load(self, epochs: int) -> tuple[keras.Model, History]:
        """The compiled autoencoder (optimizer state included) and its history."""
        model = keras.models.load_model(self._model(epochs))
        history = json.loads(self._history(epochs).read_text())
        return model, history
