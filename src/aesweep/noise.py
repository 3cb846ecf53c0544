"""Input corruption of the ``denoising`` architecture, and the ``sparse`` bottleneck penalty.

The noise is drawn on the host, by NumPy, from a stream that is a pure function of
(seed, epoch), in step order: a run resumed from a checkpoint sees the same noise as a
fresh one, whatever the chunking of steps into compiled calls and whether XLA compiles
them (TensorFlow's stateless generators draw other numbers under XLA, and run ~10x
slower there on a CPU than NumPy does).
"""

from __future__ import annotations

import numpy as np

from aesweep.autoencoder_params import NOISE_KINDS as NOISE_KINDS
from aesweep.runtime import keras, tf

# Salt of the noise streams, so that they never coincide with the epoch-order streams.
_NOISE_SALT = 0x6E6F6973


def noise_stream(seed: int, epoch: int) -> np.random.Generator:
    """The epoch's stream of noise draws; each step draws its batch's in step order."""
    return np.random.default_rng([_NOISE_SALT, seed, epoch])


def draw(rng: np.random.Generator, kind: str, out: np.ndarray) -> None:
    """Fill ``out`` (steps, batch, n_features) float32 with the next draws of ``rng``:
    standard normal for gaussian, uniform in [0, 1) for masking and swap."""
    if kind == "gaussian":
        rng.standard_normal(dtype=np.float32, out=out)
    else:
        rng.random(dtype=np.float32, out=out)


def corrupt(x: tf.Tensor, kind: str, level: float, u: tf.Tensor) -> tf.Tensor:
    """Corrupt a batch ``x`` (batch, n_features) with noise of ``kind`` at ``level`` from
    the draws ``u`` of the same shape (see :func:`draw`): gaussian adds ``level * u``;
    masking zeroes each cell with probability ``level``; swap replaces each cell with
    probability ``level`` by the same column of another random row of the batch (a batch
    of one row is left as it is)."""
    if kind == "gaussian":
        return x + level * u
    keep = u >= level
    if kind == "masking":
        return tf.where(keep, x, tf.zeros_like(x))
    rows, cols = tf.shape(x)[0], tf.shape(x)[1]
    # Given u < level, u / level is uniform in [0, 1): one draw picks both whether a cell
    # swaps and the row it swaps with.
    scaled = tf.cast(u / level * tf.cast(rows, x.dtype), tf.int32)
    other_rows = tf.minimum(scaled, rows - 1)
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
