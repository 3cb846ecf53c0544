"""Input corruption of the ``denoising`` architecture, and the ``sparse`` bottleneck penalty.

The noise of a training step is drawn by stateless random ops from a key that is a pure
function of (seed, epoch, step): a run resumed from a checkpoint sees the same noise as a
fresh one, whatever the chunking of steps into compiled calls.
"""

from __future__ import annotations

import numpy as np

from aesweep.runtime import keras, tf

NOISE_KINDS = ("gaussian", "masking", "swap")
# Salt of the noise keys, so that they never coincide with the epoch-order streams.
_NOISE_SALT = 0x6E6F6973


def noise_key(seed: int, epoch: int, step: int) -> np.ndarray:
    """The stateless key (2,) int32 of step ``step`` (from 0) of epoch ``epoch``; step
    ``i`` of a compiled call that starts at ``step`` uses ``key + [0, i]``."""
    high = np.random.default_rng([_NOISE_SALT, seed, epoch]).integers(2**31)
    return np.array([high, step], np.int32)


def corrupt(x: tf.Tensor, kind: str, level: float, key: tf.Tensor) -> tf.Tensor:
    """Corrupt a batch ``x`` (batch, n_features) with noise of ``kind`` at ``level``:
    gaussian adds N(0, level²); masking zeroes each cell with probability ``level``; swap
    replaces each cell with probability ``level`` by the same column of another random row
    of the batch (a batch of one row is left as it is)."""
    if kind == "gaussian":
        return x + level * tf.random.stateless_normal(tf.shape(x), key, dtype=x.dtype)
    keep = tf.random.stateless_uniform(tf.shape(x), key, dtype=x.dtype) >= level
    if kind == "masking":
        return tf.where(keep, x, tf.zeros_like(x))
    rows, cols = tf.shape(x)[0], tf.shape(x)[1]
    other_rows = tf.random.stateless_uniform(tf.shape(x), key[::-1], maxval=rows,
                                             dtype=tf.int32)
    columns = tf.broadcast_to(tf.range(cols)[None, :], tf.shape(x))
    swapped = tf.gather_nd(x, tf.stack([other_rows, columns], axis=-1))
    return tf.where(keep, x, swapped)


@keras.saving.register_keras_serializable(package="aesweep")
class RowL1(keras.regularizers.Regularizer):
    """``l1`` x the mean over rows of the sum of |activation| over units: for a code
    (batch, bottleneck), independent of the batch size (Keras's ``L1`` sums over rows)."""

    def __init__(self, l1: float) -> None:
        self.l1 = float(l1)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return self.l1 * keras.ops.mean(keras.ops.sum(keras.ops.abs(x), axis=-1))

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1}
