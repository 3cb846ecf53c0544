"""Keras models for the ``architecture`` and ``optimizer`` groups."""

from __future__ import annotations

from collections.abc import Sequence

from aesweep.noise import RowL1
from aesweep.runtime import keras
from aesweep.variational import DECODER, variational_code

layers = keras.layers


def hidden_widths(n_features: int, hidden_units: Sequence[int] | None) -> list[int]:
    """Encoder hidden widths: the reference (2n, n) unless given explicitly."""
    return list(hidden_units) if hidden_units is not None else [2 * n_features, n_features]


def build_autoencoder(
    n_features: int,
    bottleneck: int,
    hidden_units: Sequence[int] | None = None,
    activation: str = "leaky_relu",
    batch_norm: bool = True,
    dropout: float = 0.0,
    l1: float = 0.0,
    variational: bool = False,
) -> tuple[keras.Model, keras.Model]:
    """Return ``(autoencoder, encoder)``; the encoder shares the autoencoder's layers.

    Each hidden block is Dense -> BatchNorm -> activation (-> Dropout); the bottleneck
    and the reconstruction are linear. The decoder mirrors the encoder. ``l1`` > 0 adds
    an L1 activity penalty on the bottleneck (``sparse``): ``l1`` x mean over rows of
    sum |code|, part of the training loss. ``variational``: a β-VAE (see
    :mod:`aesweep.variational`): the bottleneck is the posterior mean, beside a
    log-variance head, and the decoder is a nested model (``decoder``) that the training
    step feeds with sampled codes.
    Shapes: ``(batch, n_features) -> (batch, bottleneck) -> (batch, n_features)``.
    """
    widths = hidden_widths(n_features, hidden_units)

    def block(x: keras.KerasTensor, units: int, name: str) -> keras.KerasTensor:
        x = layers.Dense(units, name=f"{name}_dense")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.Activation(activation, name=f"{name}_act")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
        return x

    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    for i, units in enumerate(widths):
        x = block(x, units, f"enc{i}")
    # No regularizer at all when l1 is 0: the dense graph stays as it was.
    penalty = RowL1(l1) if l1 > 0 else None

    def decode(x: keras.KerasTensor) -> keras.KerasTensor:
        for i, units in enumerate(reversed(widths)):
            x = block(x, units, f"dec{i}")
        return layers.Dense(n_features, name="reconstruction")(x)

    if variational:
        mean = variational_code(x, bottleneck, penalty)
        code = keras.Input(shape=(bottleneck,), name="code")
        outputs = keras.Model(code, decode(code), name=DECODER)(mean)
    else:
        outputs = decode(
            layers.Dense(bottleneck, activity_regularizer=penalty, name="bottleneck")(x))

    autoencoder = keras.Model(inputs, outputs, name="autoencoder")
    return autoencoder, crop_encoder(autoencoder)


def crop_encoder(autoencoder: keras.Model) -> keras.Model:
    """The encoder of an autoencoder built (or loaded) here: input -> bottleneck."""
    return keras.Model(autoencoder.input, autoencoder.get_layer("bottleneck").output,
                       name="encoder")


OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def build_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} is not one of {sorted(OPTIMIZERS)}")
    # Named, not numbered ("adam_3"): the same optimizer has the same config in every job
    # of a process, so its models share a kept trainer (aesweep.trainers).
    return OPTIMIZERS[name](learning_rate=learning_rate, name=name)
