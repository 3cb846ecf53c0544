"""The ``variational`` architecture: a β-VAE whose features are the posterior means.

The encoder body ends in two linear heads, the posterior mean (the layer ``bottleneck``,
so that the cropped encoder returns the means) and the log-variance (``z_log_var``). The
autoencoder's own graph decodes the mean: inference (``reconstruct``, ``val_loss``) is
deterministic. Only the training step samples ``z = mean + exp(log_var / 2) * eps``, with
``eps`` drawn on the host like the denoising noise (see :mod:`aesweep.noise`): a NumPy
stream that is a pure function of (seed, epoch), consumed in step order, so a resumed run
equals a fresh one whatever the chunking of steps and XLA's decisions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aesweep.runtime import keras, tf

ops = keras.ops

MEAN, LOG_VAR, SAMPLE, DECODER = "bottleneck", "z_log_var", "z", "decoder"
# What a variational Trainer logs per epoch: ``loss`` = ``recon_loss`` + beta x ``kl_loss``.
TERMS = ("loss", "recon_loss", "kl_loss")
# Salt of the eps streams: never the epoch-order or the noise streams.
_EPS_SALT = 0x76616520


def eps_stream(seed: int, epoch: int) -> np.random.Generator:
    """The epoch's stream of standard normal eps; each step draws its batch's in step order."""
    return np.random.default_rng([_EPS_SALT, seed, epoch])


@keras.saving.register_keras_serializable(package="aesweep")
class Sampling(keras.layers.Layer):
    """``[mean, log_var]`` (batch, code) -> ``mean + exp(log_var / 2) * eps`` for the
    host's draws ``eps`` (batch, code), or ``mean`` when ``eps`` is None: inference, and
    the autoencoder's own graph (which holds the log-variance head through this layer)."""

    def call(self, inputs: list[Any], eps: Any = None) -> Any:
        mean, log_var = inputs
        return mean if eps is None else mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape: list[tuple[int, ...]]) -> tuple[int, ...]:
        return input_shape[0]


def variational_code(x: keras.KerasTensor, bottleneck: int,
                     penalty: keras.regularizers.Regularizer | None) -> keras.KerasTensor:
    """The two heads on the encoder body ``x``, joined by :class:`Sampling` (the mean)."""
    mean = keras.layers.Dense(bottleneck, activity_regularizer=penalty, name=MEAN)(x)
    log_var = keras.layers.Dense(bottleneck, name=LOG_VAR)(x)
    return Sampling(name=SAMPLE)([mean, log_var])


def is_variational(model: keras.Model) -> bool:
    return any(layer.name == LOG_VAR for layer in model.layers)


def kl_divergence(mean: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over code units, averaged over rows."""
    per_row = -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)
    return ops.mean(per_row)


class VariationalLoss:
    """The training loss of a β-VAE built by ``build_autoencoder(variational=True)``.

    ``loss = recon + beta * kl``, both per input cell: ``recon`` is the model's compiled
    loss (MSE, or the mixed tabular loss: a mean over the row's columns; plus an ``l1``
    penalty, if any) and ``kl`` is
    :func:`kl_divergence` divided by ``n_features``. With the MSE, beta = 1 is the
    negative evidence lower bound of a Gaussian decoder of variance 1/2 per cell (up to a
    constant), divided by ``n_features``; beta = 0, a plain autoencoder with a noisy code.
    """

    def __init__(self, model: keras.Model, beta: float) -> None:
        self.model, self.beta = model, float(beta)
        # The same layers (and weights) as the autoencoder, with the heads as outputs.
        self.stats = keras.Model(model.input, [model.get_layer(MEAN).output,
                                               model.get_layer(LOG_VAR).output])
        self.sample, self.decoder = model.get_layer(SAMPLE), model.get_layer(DECODER)
        self.n_features = model.input_shape[-1]
        self.code_width = model.get_layer(MEAN).units

    def __call__(self, x: tf.Tensor, x_in: tf.Tensor,
                 eps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(loss, recon, kl)`` of one training batch: reconstruct ``x`` from ``x_in``
        (``x``, or its corruption) through ``z`` sampled with ``eps`` (batch, code)."""
        mean, log_var = self.stats(x_in, training=True)
        y_pred = self.decoder(self.sample([mean, log_var], eps=eps), training=True)
        recon = self.model.compute_loss(x=x, y=x, y_pred=y_pred, training=True)
        kl = kl_divergence(mean, log_var) / self.n_features
        return recon + self.beta * kl, recon, kl
