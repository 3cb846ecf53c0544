"""Chunked float32 inference of a Keras model, each row's result independent of the
others passed with it."""

from __future__ import annotations

from typing import Any

import numpy as np

# Inference chunk size: large, since prediction holds no gradients.
PREDICT_BATCH = 4096
# Inference pads the rows to a multiple of this. TensorFlow's CPU kernels for sigmoid, swish,
# elu, selu and gelu run whole SIMD packets (16 float32 with AVX-512) through a vectorised
# approximation and a last partial packet through the scalar function, which differs in the
# last bit: unpadded, a row's embedding would depend on where it sits in the batch.
ROW_ALIGN = 64


def predict(model: Any, X: np.ndarray) -> np.ndarray:
    """Eager float32 inference in chunks, returned in ``X``'s dtype. ``model.predict``
    would trace a new tf.function for every fresh model, which a sweep pays (and TensorFlow
    warns about) once per job. Each chunk is padded to a multiple of ``ROW_ALIGN`` rows,
    so that no row's result depends on its position."""
    from aesweep.runtime import keras

    out = np.empty((len(X), model.output_shape[-1]), X.dtype)
    for start in range(0, len(X), PREDICT_BATCH):
        rows = min(PREDICT_BATCH, len(X) - start)
        chunk = np.zeros((-(-rows // ROW_ALIGN) * ROW_ALIGN, X.shape[1]), np.float32)
        chunk[:rows] = X[start:start + rows]
        out[start:start + rows] = keras.ops.convert_to_numpy(
            model(chunk, training=False))[:rows]
    return out
