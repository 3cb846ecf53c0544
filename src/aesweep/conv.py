"""The ``conv`` architecture: a 2-D convolutional autoencoder for rows that are images.

The model keeps the flat input and output of the dense one, ``(batch, n_features)``, so
that training, checkpoints and features work unchanged: it reshapes each row to
``image_shape`` (height, width, channels) inside the graph and flattens the reconstruction
back. TensorFlow is imported only when a model is built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aesweep.ranges import plain

if TYPE_CHECKING:
    from aesweep.runtime import keras


def image_shape_problem(image_shape: Any, n_features: int | None = None) -> str | None:
    """What is wrong with an ``image_shape`` parameter, if anything: None, or three sizes
    (height, width, channels) >= 1, one of which may be -1 (inferred, as in
    ``numpy.reshape``); with ``n_features``, they must hold exactly that many values."""
    if image_shape is None:
        return None
    what = "3 integers (height, width, channels), each >= 1 or one -1 (inferred)"
    if isinstance(image_shape, str) or not isinstance(image_shape, Sequence):
        return f"must be {what} or None, got {image_shape!r}"
    sizes = [plain(size) for size in image_shape]
    integers = all(isinstance(s, int) and not isinstance(s, bool) for s in sizes)
    if len(sizes) != 3 or not integers or sizes.count(-1) > 1 or any(
            s < 1 and s != -1 for s in sizes):
        return f"must be {what}, got {sizes}"
    if n_features is not None and math.prod(resolve_image_shape(sizes, n_features)) != n_features:
        return f"must hold the {n_features} features of a row, got {sizes}"
    return None


def resolve_image_shape(image_shape: Sequence[int], n_features: int) -> tuple[int, int, int]:
    """``image_shape`` with its -1, if any, inferred from ``n_features`` (left as -1 when
    ``n_features`` does not divide)."""
    sizes = [int(size) for size in image_shape]
    known = -math.prod(sizes) if -1 in sizes else 0
    if known and n_features % known == 0:
        sizes[sizes.index(-1)] = n_features // known
    height, width, channels = sizes
    return height, width, channels


def build_conv_autoencoder(
    n_features: int,
    bottleneck: int,
    image_shape: Sequence[int],
    filters: Sequence[int] = (16, 32),
    activation: str = "leaky_relu",
    batch_norm: bool = True,
    dropout: float = 0.0,
    l1: float = 0.0,
) -> tuple[keras.Model, keras.Model]:
    """Return ``(autoencoder, encoder)``, shaped as :func:`aesweep.model.build_autoencoder`'s.

    Encoder: Reshape to ``image_shape`` -> per entry of ``filters``, Conv2D (kernel 3,
    stride 2, same padding) -> BatchNorm -> activation (-> Dropout) -> Flatten -> linear
    Dense bottleneck (with ``l1``, the sparse penalty). Decoder: Dense back to the last
    feature map (-> BatchNorm -> activation) -> the mirrored Conv2DTranspose blocks
    (stride 2) -> a linear Conv2D to the channels -> cropped to the image, as odd sizes
    round up on the way down (7 -> 4 -> 2 -> 4 -> 8) -> Flatten.
    """
    from aesweep.model import crop_encoder, layers
    from aesweep.noise import RowL1
    from aesweep.runtime import keras

    height, width, channels = resolve_image_shape(image_shape, n_features)

    def finish(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.Activation(activation, name=f"{name}_act")(x)
        return layers.Dropout(dropout, name=f"{name}_dropout")(x) if dropout > 0 else x

    inputs = keras.Input(shape=(n_features,), name="features")
    x = layers.Reshape((height, width, channels), name="image")(inputs)
    for i, n in enumerate(filters):
        x = finish(layers.Conv2D(n, 3, strides=2, padding="same", name=f"enc{i}_conv")(x),
                   f"enc{i}")
    feature_map = tuple(x.shape[1:])
    x = layers.Flatten(name="enc_flatten")(x)
    penalty = RowL1(l1) if l1 > 0 else None
    code = layers.Dense(bottleneck, activity_regularizer=penalty, name="bottleneck")(x)
    x = finish(layers.Dense(math.prod(feature_map), name="dec_dense")(code), "dec_dense")
    x = layers.Reshape(feature_map, name="dec_map")(x)
    for i, n in enumerate(reversed(filters)):
        x = finish(layers.Conv2DTranspose(n, 3, strides=2, padding="same",
                                          name=f"dec{i}_conv")(x), f"dec{i}")
    x = layers.Conv2D(channels, 3, padding="same", name="reconstruction_conv")(x)
    extra_height, extra_width = x.shape[1] - height, x.shape[2] - width
    if extra_height or extra_width:
        x = layers.Cropping2D(((0, extra_height), (0, extra_width)), name="crop")(x)
    outputs = layers.Flatten(name="reconstruction")(x)

    autoencoder = keras.Model(inputs, outputs, name="autoencoder")
    return autoencoder, crop_encoder(autoencoder)
