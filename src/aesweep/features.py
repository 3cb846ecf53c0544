"""``AutoencoderFeatures``: a scikit-learn transformer that trains a Keras autoencoder
and transforms rows to its bottleneck embeddings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

# The choices on offer, defined in the light module; imported from here too.
from aesweep.autoencoder_params import ACTIVATIONS as ACTIVATIONS
from aesweep.autoencoder_params import NEWER_DEFAULTS, AutoencoderParams
from aesweep.autoencoder_params import NOISE_KINDS as NOISE_KINDS
from aesweep.autoencoder_params import OPTIMIZER_NAMES as OPTIMIZER_NAMES
from aesweep.conv import image_shape_problem
from aesweep.inference import predict
from aesweep.ranges import plain

if TYPE_CHECKING:
    from aesweep.progress import EpochHook

# The dtypes transform returns as given; any other input comes back as the first.
_FLOATS = (np.float64, np.float32)


class AutoencoderFeatures(AutoencoderParams, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                          BaseEstimator):
    """Encode features with the cropped encoder of a trained autoencoder.

    ``fit`` trains a dense (or, with ``image_shape``, a convolutional) autoencoder to
    reconstruct ``X`` (MSE loss); ``transform``
    returns the bottleneck activations, shape ``(n_samples, bottleneck)``. Use it like any
    transformer, e.g.
    ``make_pipeline(StandardScaler(), AutoencoderFeatures(bottleneck=16), LogisticRegression())``.

    Keras computes in float32; ``transform``, ``fit_transform`` and ``reconstruct`` return
    the input's float dtype (float32 or float64; any other input comes back as float64).
    Each row's result does not depend on the other rows passed with it. ``fit`` checks the
    parameters first (:meth:`find_invalid_param`) and raises ``ValueError`` for a bad one.

    Parameters
    ----------
    bottleneck : int, default=32
        Width of the linear bottleneck: the number of output features.
    hidden_units : sequence of int or None, default=None
        Encoder hidden widths (each >= 1), mirrored by the decoder. None means (2n, n) for
        n inputs; an empty sequence, a linear autoencoder.
    activation : str, default="leaky_relu"
        Keras activation of the hidden blocks, one of ``ACTIVATIONS``: leaky_relu, relu,
        elu, selu, gelu, swish, tanh, sigmoid.
    batch_norm : bool, default=True
        BatchNormalization after each hidden Dense layer.
    dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden block.
    image_shape : sequence of 3 int or None, default=None
        Convolutional (``conv``): each row is an image, ``row.reshape(image_shape)`` of
        (height, width, channels), each >= 1 or one -1 (inferred); the product must equal
        n_features. None: dense. See :func:`aesweep.conv.build_conv_autoencoder`.
    filters : sequence of int, default=(16, 32)
        With ``image_shape``: the stride-2 Conv2D blocks, in place of ``hidden_units``.
    noise_kind : {"gaussian", "masking", "swap"} or None, default=None
        Denoising: corrupt the training inputs (the targets, the validation loss and
        ``transform`` stay clean). gaussian adds N(0, noise_level²); masking zeroes each
        cell with probability noise_level; swap replaces each cell with probability
        noise_level by its column's value in another random row of the batch. The noise
        is a function of (random_state, epoch, step): resuming equals training afresh.
    noise_level : float >= 0, default=0.0
        The std (gaussian) or probability, in [0, 1] (masking, swap).
    l1 : float >= 0, default=0.0
        Sparse: L1 activity penalty on the bottleneck, ``l1`` x mean over rows of
        sum |code|, added to the training loss.
    variational : bool, default=False
        A β-VAE (:mod:`aesweep.variational`): ``transform`` returns the posterior means;
        training samples the code with eps from (random_state, epoch, step) and logs
        ``history_["recon_loss"]`` and ``["kl_loss"]``.
    beta : float >= 0, default=1.0
        Variational: the loss is ``recon_loss + beta * kl_loss``, both per input cell.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default="adam"
    learning_rate : float, default=0.001
        Must be > 0. ``fit`` raises ``FloatingPointError`` when the training loss becomes
        NaN or infinite (training diverged: lower it).
    epochs : int, default=10
        Training epochs. 0 leaves the weights at their seeded initial values
        (an untrained encoder: an honest control).
    batch_size : int, default=64
    random_state : int in [0, 2**32 - 1] or None, default=None
        Seeds Python, NumPy and Keras before building the model.
    verbose : int, default=0
        1 prints a Keras progress bar per epoch.
    jit_compile : bool or None, default=None
        Compile the training steps with XLA. None: when the training ahead is long enough
        to win back the compile time (always on a GPU; never for conv on a CPU, where XLA
        is slower). It changes results only by floating-point round-off.
    checkpoint_dir : str, os.PathLike or None, default=None
        Where to keep training checkpoints, keyed by a hash of every other parameter and
        the data. ``fit`` resumes from the checkpoint with the most epochs <= ``epochs``
        and saves one at ``epochs``. None: no checkpoints.
    checkpoint_epochs : sequence of int, default=()
        Further epoch counts (each >= 1) to checkpoint on the way (e.g. the other epoch
        counts of a sweep, so that shorter runs reuse this one's training).
    categorical_blocks : sequence of int, default=()
        A mixed table's one-hot block widths, the last ``sum(categorical_blocks)`` columns
        of X (as :func:`aesweep.tabular.make_preprocessor` lays them out): the loss is then
        MSE on the other columns plus cross-entropy per block, and ``reconstruct`` gives
        each block as probabilities. Empty: MSE on every column.

    Attributes
    ----------
    encoder_ : keras.Model
        Input -> bottleneck, float32, shape ``(n, n_features_in_) -> (n, bottleneck)``.
    autoencoder_ : keras.Model
        Input -> reconstruction, float32, ``(n, n_features_in_) -> (n, n_features_in_)``.
    history_ : dict of str to list of float
        Per-epoch ``loss`` and, with ``validation_data``, ``val_loss``, from epoch 1
        (variational: also ``recon_loss`` and ``kl_loss``).
    resumed_from_epochs_ : int or None
        The checkpoint's epoch count that training resumed from, if any.
    jit_compile_ : bool
        Whether the training steps ran compiled with XLA (``jit_compile`` resolved).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when ``X`` has string column names (a pandas DataFrame).
    """

    # What each parameter allows, checked by `find_invalid_param`: the tables of
    # AutoencoderParams (aesweep.autoencoder_params, light, so that the CLI checks a config
    # before it imports scikit-learn).

    def __init__(
        self,
        bottleneck: int = 32,
        hidden_units: Sequence[int] | None = None,
        activation: str = "leaky_relu",
        batch_norm: bool = True,
        dropout: float = 0.0,
        image_shape: Sequence[int] | None = None,
        filters: Sequence[int] = (16, 32),
        noise_kind: str | None = None,
        noise_level: float = 0.0,
        l1: float = 0.0,
        variational: bool = False,
        beta: float = 1.0,
        optimizer: str = "adam",
        learning_rate: float = 0.001,
        epochs: int = 10,
        batch_size: int = 64,
        random_state: int | None = None,
        verbose: int = 0,
        jit_compile: bool | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_epochs: Sequence[int] = (),
        categorical_blocks: Sequence[int] = (),
    ) -> None:
        self.bottleneck = bottleneck
        self.hidden_units = hidden_units
        self.activation = activation
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.image_shape = image_shape
        self.filters = filters
        self.noise_kind = noise_kind
        self.noise_level = noise_level
        self.l1 = l1
        self.variational = variational
        self.beta = beta
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.jit_compile = jit_compile
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_epochs = checkpoint_epochs
        self.categorical_blocks = categorical_blocks

    def fit(self, X: Any, y: Any = None, validation_data: Any = None,
            callbacks: Sequence[Any] = (), on_epoch: EpochHook | None = None,
            ) -> AutoencoderFeatures:
        """Train the autoencoder on ``X`` of shape (n_samples, n_features).

        ``validation_data`` (n_val, n_features), in the same space as ``X``, is only
        monitored (``history_["val_loss"]``); it never updates the weights.
        ``callbacks``: Keras callbacks, given their train and epoch hooks (not batch hooks:
        many steps run inside one compiled call) with the epoch's ``loss`` and ``val_loss``.
        ``on_epoch(epoch, logs, seconds)``: called with each epoch from 1, its ``loss`` and
        ``val_loss`` and its wall time; when training resumes from a checkpoint, first with
        each restored epoch and ``seconds`` None (see :data:`aesweep.progress.EpochHook`).

        Raises ``ValueError`` for a parameter out of its type or range, and
        ``FloatingPointError`` as soon as an epoch's loss is NaN or infinite.
        """
        if invalid := self.find_invalid_param():
            name, problem = invalid
            raise ValueError(f"The {name!r} parameter of {type(self).__name__} {problem}.")
        from aesweep.checkpoints import Checkpoints
        from aesweep.conv import build_conv_autoencoder
        from aesweep.model import build_autoencoder, build_optimizer, crop_encoder
        from aesweep.runtime import set_random_seed
        from aesweep.training import train, use_xla

        X = validate_data(self, X, dtype=np.float32)
        if problem := image_shape_problem(self.image_shape, self.n_features_in_):
            raise ValueError(f"The 'image_shape' parameter of {type(self).__name__} {problem}.")
        X_val = None if validation_data is None else validate_data(
            self, validation_data, reset=False, dtype=np.float32)
        checkpoints = None if self.checkpoint_dir is None else Checkpoints(
            self.checkpoint_dir, self._checkpoint_key(X, X_val))
        self.resumed_from_epochs_ = None if checkpoints is None else checkpoints.best(self.epochs)
        if self.resumed_from_epochs_:
            self.autoencoder_, history = checkpoints.load(self.resumed_from_epochs_)
        else:
            if self.random_state is not None:
                set_random_seed(self.random_state)
            if self.image_shape is None:
                self.autoencoder_, _ = build_autoencoder(
                    self.n_features_in_, self.bottleneck, self.hidden_units, self.activation,
                    self.batch_norm, self.dropout, self.l1, self.variational)
            else:
                self.autoencoder_, _ = build_conv_autoencoder(
                    self.n_features_in_, self.bottleneck, self.image_shape, self.filters,
                    self.activation, self.batch_norm, self.dropout, self.l1)
            self.autoencoder_.compile(
                optimizer=build_optimizer(self.optimizer, self.learning_rate),
                loss=self._loss())
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
        try:
            self.history_ = train(self.autoencoder_, X, X_val, start=start,
                                  stop=self.epochs, batch_size=self.batch_size, seed=seed,
                                  history=history, jit_compile=self.jit_compile_,
                                  verbose=self.verbose, callbacks=callbacks,
                                  on_epoch_end=checkpoint, model_read_at=save_at,
                                  on_epoch=on_epoch,
                                  noise=self._noise(),
                                  beta=float(plain(self.beta)) if self.variational else None)
        except FloatingPointError as error:  # training diverged
            raise FloatingPointError(f"{error}; lower the learning rate "
                                     f"(learning_rate={self.learning_rate})") from None
        self._n_features_out = self.bottleneck
        return self

    def _loss(self) -> Any:
        """MSE; with ``categorical_blocks`` (one-hot widths at the end of X, see
        :mod:`aesweep.tabular`), MSE on the rest and cross-entropy on each block."""
        if not self.categorical_blocks:
            return "mse"
        from aesweep.mixedloss import MixedReconstructionLoss

        n_numeric = self.n_features_in_ - sum(self.categorical_blocks)
        if n_numeric < 0:
            raise ValueError(f"categorical_blocks {list(self.categorical_blocks)} are wider "
                             f"than the {self.n_features_in_} features")
        return MixedReconstructionLoss(n_numeric, self.categorical_blocks)

    def _noise(self) -> tuple[str, float] | None:
        """(kind, level) of the training noise; None for none (or at level 0)."""
        level = float(plain(self.noise_level))
        return None if self.noise_kind is None or level == 0 else (self.noise_kind, level)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # Computed in float32, returned in the input's float dtype.
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _checkpoint_key(self, X: np.ndarray, X_val: np.ndarray | None) -> str:
        """Everything that shapes training except the epoch count: params and data."""
        params = self.get_params()
        # Not inputs of the result: how long, how chatty, where, and how it is compiled.
        for name in ("epochs", "verbose", "jit_compile", "checkpoint_dir", "checkpoint_epochs"):
            params.pop(name)
        for name, default in NEWER_DEFAULTS.items():
            if params[name] == default:
                params.pop(name)
        if not params["categorical_blocks"]:  # keys of checkpoints saved before it existed
            params.pop("categorical_blocks")
        return joblib.hash([params, X, X_val])

    def transform(self, X: Any) -> np.ndarray:
        """Embed ``X`` (n_samples, n_features) into (n_samples, bottleneck), in ``X``'s
        float dtype (float32 or float64; others: float64)."""
        check_is_fitted(self, "encoder_")
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return predict(self.encoder_, X)

    def reconstruct(self, X: Any) -> np.ndarray:
        """Pass ``X`` (n_samples, n_features) through the whole autoencoder: the
        reconstruction, (n_samples, n_features) in ``X``'s float dtype; with
        ``categorical_blocks``, each block as probabilities."""
        check_is_fitted(self, "autoencoder_")
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        out = predict(self.autoencoder_, X)
        if self.categorical_blocks:  # one-hot blocks: the logits' probabilities
            from aesweep.tabular import softmax_blocks

            softmax_blocks(out, self.n_features_in_ - sum(self.categorical_blocks),
                           self.categorical_blocks)
        return out

    def reconstruction_error(self, X: Any) -> float:
        """Mean squared reconstruction error over all cells of ``X``."""
        X = np.asarray(X, dtype=np.float32)
        return float(np.mean((self.reconstruct(X) - X) ** 2))

    def score(self, X: Any, y: Any = None) -> float:
        """Negative reconstruction MSE, so that greater is better (for ``GridSearchCV``)."""
        return -self.reconstruction_error(X)
