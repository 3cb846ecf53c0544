"""``AutoencoderFeatures``: a scikit-learn transformer that trains a Keras autoencoder
and transforms rows to its bottleneck embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

# Inference chunk size: large, since prediction holds no gradients.
_PREDICT_BATCH = 4096


class AutoencoderFeatures(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Encode features with the cropped encoder of a trained autoencoder.

    ``fit`` trains a dense autoencoder to reconstruct ``X`` (MSE loss); ``transform``
    returns the bottleneck activations. Use it like any transformer, e.g.
    ``make_pipeline(StandardScaler(), AutoencoderFeatures(bottleneck=16), LogisticRegression())``.

    Parameters
    ----------
    bottleneck : int, default=32
        Width of the linear bottleneck: the number of output features.
    hidden_units : sequence of int or None, default=None
        Encoder hidden widths, mirrored by the decoder. None means (2n, n) for n inputs.
    activation : str, default="leaky_relu"
        Keras activation of the hidden blocks.
    batch_norm : bool, default=True
        BatchNormalization after each hidden Dense layer.
    dropout : float, default=0.0
        Dropout rate after each hidden block.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default="adam"
    learning_rate : float, default=0.001
    epochs : int, default=10
        Training epochs. 0 leaves the weights at their seeded initial values
        (an untrained encoder: an honest control).
    batch_size : int, default=64
    random_state : int or None, default=None
        Seeds Python, NumPy and Keras before building the model.
    verbose : int, default=0
        1 prints a Keras progress bar per epoch.
    jit_compile : bool or None, default=None
        Compile the training steps with XLA. None: when the training ahead is long enough
        to win back the compile time (always on a GPU). It changes results only by
        floating-point round-off.
    checkpoint_dir : str or None, default=None
        Where to keep training checkpoints, keyed by a hash of every other parameter and
        the data. ``fit`` resumes from the checkpoint with the most epochs <= ``epochs``
        and saves one at ``epochs``. None: no checkpoints.
    checkpoint_epochs : sequence of int, default=()
        Further epoch counts to checkpoint on the way (e.g. the other epoch counts of a
        sweep, so that shorter runs reuse this one's training).

    Attributes
    ----------
    encoder_ : keras.Model
        Input -> bottleneck, shape ``(n, n_features_in_) -> (n, bottleneck)``.
    autoencoder_ : keras.Model
        Input -> reconstruction, shape ``(n, n_features_in_) -> (n, n_features_in_)``.
    history_ : dict of str to list of float
        Per-epoch ``loss`` and, with ``validation_data``, ``val_loss``, from epoch 1.
    resumed_from_epochs_ : int or None
        The checkpoint's epoch count that training resumed from, if any.
    jit_compile_ : bool
        Whether the training steps ran compiled with XLA (``jit_compile`` resolved).
    n_features_in_ : int
    """

    def __init__(
        self,
        bottleneck: int = 32,
        hidden_units: Sequence[int] | None = None,
        activation: str = "leaky_relu",
        batch_norm: bool = True,
        dropout: float = 0.0,
        optimizer: str = "adam",
        learning_rate: float = 0.001,
        epochs: int = 10,
        batch_size: int = 64,
        random_state: int | None = None,
        verbose: int = 0,
        jit_compile: bool | None = None,
        checkpoint_dir: str | None = None,
        checkpoint_epochs: Sequence[int] = (),
    ) -> None:
        self.bottleneck = bottleneck
        self.hidden_units = hidden_units
        self.activation = activation
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.jit_compile = jit_compile
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_epochs = checkpoint_epochs

    def fit(self, X: Any, y: Any = None, validation_data: Any = None,
            callbacks: Sequence[Any] = ()) -> AutoencoderFeatures:
        """Train the autoencoder on ``X`` of shape (n_samples, n_features).

        ``validation_data`` (n_val, n_features), in the same space as ``X``, is only
        monitored (``history_["val_loss"]``); it never updates the weights.
        ``callbacks``: Keras callbacks, given their train and epoch hooks (not batch hooks:
        many steps run inside one compiled call) with the epoch's ``loss`` and ``val_loss``.
        """
        from aesweep.model import build_autoencoder, build_optimizer, crop_encoder
        from aesweep.runtime import keras
        from aesweep.training import Checkpoints, train, use_xla

        X = validate_data(self, X, dtype=np.float32)
        X_val = None if validation_data is None else validate_data(
            self, validation_data, reset=False, dtype=np.float32)
        checkpoints = None if self.checkpoint_dir is None else Checkpoints(
            self.checkpoint_dir, self._checkpoint_key(X, X_val))
        self.resumed_from_epochs_ = None if checkpoints is None else checkpoints.best(self.epochs)
        if self.resumed_from_epochs_:
            self.autoencoder_, history = checkpoints.load(self.resumed_from_epochs_)
        else:
            if self.random_state is not None:
                keras.utils.set_random_seed(self.random_state)
            self.autoencoder_, _ = build_autoencoder(
                self.n_features_in_, self.bottleneck, self.hidden_units, self.activation,
                self.batch_norm, self.dropout)
            self.autoencoder_.compile(
                optimizer=build_optimizer(self.optimizer, self.learning_rate), loss="mse")
            history = {}
        self.encoder_ = crop_encoder(self.autoencoder_)

        save_at = {*self.checkpoint_epochs, self.epochs} if checkpoints else set()

        def checkpoint(epochs: int, history: dict[str, list[float]]) -> None:
            if checkpoints is not None and epochs in save_at:
                checkpoints.save(self.autoencoder_, epochs, history)

        seed = self.random_state if self.random_state is not None else int(
            np.random.default_rng().integers(2**31))
        start = self.resumed_from_epochs_ or 0
        self.jit_compile_ = use_xla(self.jit_compile, self.autoencoder_, len(X),
                                    self.epochs - start, self.batch_size)
        self.history_ = train(self.autoencoder_, X, X_val, start=start,
                              stop=self.epochs, batch_size=self.batch_size, seed=seed,
                              history=history, jit_compile=self.jit_compile_,
                              verbose=self.verbose, callbacks=callbacks,
                              on_epoch_end=checkpoint)
        self._n_features_out = self.bottleneck
        return self

    def _checkpoint_key(self, X: np.ndarray, X_val: np.ndarray | None) -> str:
        """Everything that shapes training except the epoch count: params and data."""
        params = self.get_params()
        # Not inputs of the result: how long, how chatty, where, and how it is compiled.
        for name in ("epochs", "verbose", "jit_compile", "checkpoint_dir", "checkpoint_epochs"):
            params.pop(name)
        return joblib.hash([params, X, X_val])

    def transform(self, X: Any) -> np.ndarray:
        """Embed ``X`` (n_samples, n_features) into (n_samples, bottleneck) float32."""
        check_is_fitted(self, "encoder_")
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return _predict(self.encoder_, X)

    def reconstruct(self, X: Any) -> np.ndarray:
        """Pass ``X`` (n_samples, n_features) through the whole autoencoder."""
        check_is_fitted(self, "autoencoder_")
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return _predict(self.autoencoder_, X)

    def reconstruction_error(self, X: Any) -> float:
        """Mean squared reconstruction error over all cells of ``X``."""
        X = np.asarray(X, dtype=np.float32)
        return float(np.mean((self.reconstruct(X) - X) ** 2))

    def score(self, X: Any, y: Any = None) -> float:
        """Negative reconstruction MSE, so that greater is better (for ``GridSearchCV``)."""
        return -self.reconstruction_error(X)


def _predict(model: Any, X: np.ndarray) -> np.ndarray:
    """Eager inference in chunks. ``model.predict`` would trace a new tf.function for every
    fresh model, which a sweep pays (and TensorFlow warns about) once per job."""
    from aesweep.runtime import keras

    ops = keras.ops

    chunks = [ops.convert_to_numpy(model(X[i:i + _PREDICT_BATCH], training=False))
              for i in range(0, len(X), _PREDICT_BATCH)]
    return np.concatenate(chunks) if chunks else np.empty((0, model.output_shape[-1]),
                                                           dtype=np.float32)
