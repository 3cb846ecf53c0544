"""The autoencoder's training loop and its checkpoints.

On a CPU a training step of a small dense model costs more in dispatch than in math, and
``model.fit`` pays Python and ``tf.data`` overhead around every step. So :func:`train`
runs many steps per call of one compiled function (XLA when it pays), fed with chunks of
rows gathered from the NumPy array: no copy of the whole data set is ever made.

The order of the training rows is a pure function of (seed, epoch), and a checkpoint holds
the weights, the optimizer state and the loss history. So a run resumed from E' epochs
and trained to E equals a fresh E-epoch run, and a sweep over epochs trains each config
once, to its largest epoch count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from functools import partial

import numpy as np

from aesweep.checkpoints import History
from aesweep.mixedloss import MixedReconstructionLoss
from aesweep.noise import corrupt, draw, noise_stream
from aesweep.progress import EpochHook
from aesweep.runtime import has_gpu, keras, tf
from aesweep.variational import TERMS, VariationalLoss, eps_stream, is_variational

# Input corruption while training (``denoising``): (kind, level), see ``noise.corrupt``.
Noise = tuple[str, float]

# Rows per compiled call: enough steps to amortise the call, a few MiB of float32.
CHUNK_BYTES = 8 * 2**20
# Rows per call when computing the validation loss (inference only).
EVAL_ROWS = 4096
# XLA's trade on this CPU (`make bench`, the "settings" table, 2 cores): compiling a new
# model costs a few seconds more than tracing it; then each step saves ~1.7 ms of op
# dispatch (what dominates small models) and ~40% of the dense math (~1.1e-11 s per FLOP).
# "auto" compiles when the training ahead saves more than the compile costs.
XLA_COMPILE_SECONDS = 4.0
XLA_SAVES_PER_STEP = 1.7e-3
XLA_SAVES_PER_FLOP = 1.1e-11
CONV_LAYERS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose)


# The host's streams of per-step draws, each a function of (seed, epoch).
STREAMS = {"noise": noise_stream, "eps": eps_stream}


def epoch_order(n_rows: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the training rows in one epoch: a function of (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch]).permutation(n_rows)


def use_xla(jit_compile: bool | None, model: keras.Model, rows: int, epochs: int,
            batch_size: int) -> bool:
    """Resolve ``jit_compile`` (None: auto) for training ``model`` on ``rows`` for ``epochs``.

    A dense layer costs 6 FLOPs per weight and row in a training step (forward, and the
    gradients with respect to inputs and weights). On a GPU, XLA is always on; on a CPU,
    never for a convolutional model: XLA's CPU convolutions are slower than TensorFlow's
    (oneDNN): a conv step at digits' shape took 2-6x as long (``bench/conv_step.py``).
    """
    if jit_compile is not None:
        return jit_compile
    if not has_gpu() and any(isinstance(layer, CONV_LAYERS) for layer in model.layers):
        return False
    steps = epochs * -(-rows // batch_size)
    flops = 6 * model.count_params() * rows * epochs
    saved = steps * XLA_SAVES_PER_STEP + flops * XLA_SAVES_PER_FLOP
    return has_gpu() or saved >= XLA_COMPILE_SECONDS


class Trainer:
    """Compiled training of one model on one float32 array ``X`` (n_rows, n_features).

    Each call of the compiled function runs ``steps_per_call`` steps on a chunk of rows
    gathered from ``X`` in the epoch's order; a last batch smaller than ``batch_size``
    runs on its own. ``steps_per_call`` None: as many as fit in ``CHUNK_BYTES``.
    ``noise``: corrupt each training batch (targets stay clean) with the draws of the
    epoch's noise stream, a function of (seed, epoch), consumed in step order.
    ``beta``: the KL weight of a variational model (and only of one), whose steps sample
    their codes with the eps of the epoch's eps stream, in step order, likewise; its
    epochs log ``recon_loss`` and ``kl_loss`` besides ``loss``.
    """

    def __init__(self, model: keras.Model, X: np.ndarray, X_val: np.ndarray | None, *,
                 batch_size: int, seed: int, jit_compile: bool,
                 steps_per_call: int | None = None, noise: Noise | None = None,
                 beta: float | None = None) -> None:
        if (beta is not None) != is_variational(model):
            raise ValueError("beta is for variational models and they need one: "
                             f"beta={beta}, variational={is_variational(model)}")
        self.model, self.noise = model, noise
        self.vae = None if beta is None else VariationalLoss(model, beta)
        self.terms = TERMS if self.vae else ("loss",)
        n_features = X.shape[1]
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        # Build the compiled loss's state outside the compiled function.
        x = tf.zeros((1, n_features))
        model.compute_loss(x=x, y=x, y_pred=model(x, training=False), training=False)
        # Unknown step and batch dimensions: traced once. XLA still compiles per concrete
        # shape: the chunk's, and a last smaller batch's. autograph=False: the loop is an
        # explicit tf.while_loop, and converting Keras's call tree would only slow tracing.
        signature = [tf.TensorSpec((None, None, n_features), tf.float32),
                     tf.TensorSpec((), tf.int32)]
        # The host's draws of each step, by stream: the noise (shaped as the batches) and
        # a VAE's eps (steps, batch, code); bind() sizes one buffer per stream.
        draws = {}
        if noise is not None:
            draws["noise"] = signature[0]
        if self.vae is not None:
            draws["eps"] = tf.TensorSpec((None, None, self.vae.code_width), tf.float32)
        if draws:
            signature.append(draws)
        self.streams = tuple(draws)
        # partial: TensorFlow counts traces per code object, so one trace per model across
        # a multirun's jobs would read as "excessive retracing" and warn.
        self._steps = tf.function(partial(self._train_steps), input_signature=signature,
                                  jit_compile=jit_compile, autograph=False)
        self._errors = tf.function(partial(self._row_errors), jit_compile=jit_compile,
                                   autograph=False)
        # The last, smaller batch runs once per epoch: a graph trace costs less than a
        # second XLA compile for its shape (~2.8 s at 500 features).
        self._tail_steps = tf.function(partial(self._train_steps), input_signature=signature,
                                       autograph=False) if jit_compile else self._steps
        self.bind(X, X_val, batch_size=batch_size, seed=seed, steps_per_call=steps_per_call)

    def bind(self, X: np.ndarray, X_val: np.ndarray | None, *, batch_size: int, seed: int,
             steps_per_call: int | None = None) -> None:
        """Train on ``X`` (n_rows, n_features) from now on, monitoring ``X_val``: what a
        trainer kept for the next model of the same structure (``aesweep.trainers``)
        changes, without tracing anything again."""
        self.X, self.X_val, self.batch_size, self.seed = X, X_val, batch_size, seed
        n_rows, n_features = X.shape
        self.full_batches, self.tail = divmod(n_rows, batch_size)
        per_call = steps_per_call or CHUNK_BYTES // (4 * batch_size * n_features)
        self.chunk = np.empty((max(1, min(self.full_batches, per_call)), batch_size,
                               n_features), np.float32)
        widths = {"noise": n_features, "eps": self.vae.code_width if self.vae else 0}
        self.draws = {name: np.empty((*self.chunk.shape[:2], widths[name]), np.float32)
                      for name in self.streams}

    def release(self) -> None:
        """Forget the data (a kept trainer must not hold its last job's rows)."""
        self.X = self.X_val = None
        self.chunk = np.empty((0, 0, 0), np.float32)
        self.draws = {}

    @property
    def steps_per_epoch(self) -> int:
        return self.full_batches + (self.tail > 0)

    def _train_steps(self, batches: tf.Tensor, n_steps: tf.Tensor,
                     draws: dict[str, tf.Tensor] | None = None) -> tuple[tf.Tensor, ...]:
        """Train on ``batches[:n_steps]`` (steps, batch, n_features); return the sums of
        the batches' ``self.terms`` (the loss first) x rows. Step ``i`` corrupts its
        inputs with ``draws["noise"][i]`` and samples a VAE's code with ``draws["eps"][i]``.
        """
        model, noise, vae, draws = self.model, self.noise, self.vae, draws or {}

        def step(i: tf.Tensor, totals: tuple[tf.Tensor, ...]
                 ) -> tuple[tf.Tensor, tuple[tf.Tensor, ...]]:
            x = batches[i]
            x_in = corrupt(x, *noise, draws["noise"][i]) if "noise" in draws else x
            with tf.GradientTape() as tape:
                if vae is None:
                    terms = (model.compute_loss(x=x, y=x, y_pred=model(x_in, training=True),
                                                training=True),)
                else:
                    terms = vae(x, x_in, draws["eps"][i])
            gradients = tape.gradient(terms[0], model.trainable_variables)
            model.optimizer.apply(gradients, model.trainable_variables)
            rows = tf.cast(tf.shape(x)[0], tf.float32)
            return i + 1, tuple(total + term * rows
                                for total, term in zip(totals, terms, strict=True))

        zeros = tuple(tf.constant(0.0) for _ in self.terms)
        _, totals = tf.while_loop(lambda i, _: i < n_steps, step, (tf.constant(0), zeros))
        return totals

    def _row_errors(self, x: tf.Tensor) -> tf.Tensor:
        if isinstance(self.model.loss, MixedReconstructionLoss):
            # The row's loss x its width: mse() divides by X.size, giving the mean loss.
            width = tf.cast(tf.shape(x)[1], tf.float32)
            return self.model.loss.call(x, self.model(x, training=False)) * width
        return tf.reduce_sum(tf.square(self.model(x, training=False) - x), axis=1)

    def _run(self, batches: np.ndarray, n_steps: int, streams: dict[str, np.random.Generator],
             tail: bool = False) -> np.ndarray:
        """Run ``n_steps`` of ``batches``; the sums of the terms x rows (float64)."""
        steps = self._tail_steps if tail else self._steps
        args: list = [tf.constant(batches), tf.constant(n_steps, tf.int32)]
        draws = {}
        for name, buffer in self.draws.items():
            # Draw for the steps run alone (the stream's order is the steps'), and pass
            # the whole buffer: one shape, compiled once.
            if tail:
                buffer = np.empty((*batches.shape[:2], buffer.shape[2]), np.float32)
            if name == "noise":
                draw(streams[name], self.noise[0], buffer[:n_steps])
            else:
                streams[name].standard_normal(dtype=np.float32, out=buffer[:n_steps])
            draws[name] = tf.constant(buffer)
        if draws:
            args.append(draws)
        return np.array([float(total) for total in steps(*args)])

    def epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch; return its ``loss`` (the batches' losses weighted by rows, as
        ``model.fit`` reports it; a VAE's ``recon_loss`` and ``kl_loss`` likewise) and,
        with validation rows, ``val_loss``."""
        X, chunk, size = self.X, self.chunk, self.batch_size
        order = epoch_order(len(X), self.seed, epoch)
        streams = {name: STREAMS[name](self.seed, epoch) for name in self.draws}
        totals = np.zeros(len(self.terms))
        for first in range(0, self.full_batches, len(chunk)):
            n_steps = min(len(chunk), self.full_batches - first)
            rows = order[first * size:(first + n_steps) * size]
            np.take(X, rows, axis=0, out=chunk[:n_steps].reshape(-1, X.shape[1]), mode="clip")
            totals += self._run(chunk, n_steps, streams)
        if self.tail:
            totals += self._run(X[order[-self.tail:]][None], 1, streams, tail=True)
        logs = {term: float(total / len(X)) for term, total in zip(self.terms, totals, strict=True)}
        if self.X_val is not None and len(self.X_val):
            logs["val_loss"] = self.mse(self.X_val)
        return logs

    def mse(self, X: np.ndarray) -> float:
        """Mean squared reconstruction error of ``X`` (n_rows, n_features), inference mode:
        ``val_loss`` for the MSE loss."""
        rows = min(len(X), EVAL_ROWS)
        chunk = np.zeros((rows, X.shape[1]), np.float32)  # one shape: compiled once
        total = 0.0
        for start in range(0, len(X), rows):
            part = X[start:start + rows]
            chunk[:len(part)] = part
            total += float(tf.reduce_sum(self._errors(chunk)[:len(part)]))
        return total / X.size


def train(model: keras.Model, X: np.ndarray, X_val: np.ndarray | None, *, start: int,
          stop: int, batch_size: int, seed: int, history: History,
          jit_compile: bool | None = None, verbose: int = 0,
          callbacks: Sequence[keras.callbacks.Callback] = (),
          on_epoch_end: Callable[[int, History], None] | None = None,
          on_epoch: EpochHook | None = None, noise: Noise | None = None,
          beta: float | None = None, model_read_at: Collection[int] | None = None,
          ) -> History:
    """Train epochs ``start`` .. ``stop - 1`` and return the whole history (from epoch 0).

    ``X`` (n_rows, n_features) and ``X_val`` are float32. ``callbacks`` get their train and
    epoch hooks (steps run inside compiled calls: no batch hooks).
    ``on_epoch_end(epochs_done, history)`` runs after each epoch, e.g. to checkpoint.
    ``on_epoch(epoch, logs, seconds)`` (epoch from 1) gets first each epoch of ``history``
    (restored from a checkpoint) with ``seconds`` None, then each trained epoch with its
    wall time, checkpoint included.
    ``noise``: corrupt the training inputs; ``beta``: a variational model's KL weight
    (see :class:`Trainer`).
    The compiled step may be one kept from an earlier model of the same structure
    (:mod:`aesweep.trainers`); ``model`` holds the trained state when this returns, and
    before ``on_epoch_end`` and ``callbacks`` see the epochs in ``model_read_at`` (None:
    every epoch; with ``callbacks``, always every epoch).
    Raises ``FloatingPointError`` as soon as an epoch's loss is NaN or infinite, before
    the callbacks or ``on_epoch_end`` see that epoch.
    """
    from aesweep.trainers import lend

    history = {key: list(values) for key, values in history.items()}
    if on_epoch is not None:
        for epoch in range(len(history.get("loss", ()))):
            on_epoch(epoch + 1, {key: values[epoch] for key, values in history.items()
                                 if epoch < len(values)}, None)
    if start >= stop:
        return history
    xla = use_xla(jit_compile, model, len(X), stop - start, batch_size)
    with lend(model, X, X_val, batch_size=batch_size, seed=seed, jit_compile=xla,
              noise=noise, beta=beta) as lease:
        trainer = lease.trainer
        hooks = keras.callbacks.CallbackList(
            list(callbacks), add_progbar=verbose != 0, verbose=verbose, epochs=stop,
            steps=trainer.steps_per_epoch, model=model)
        hooks.on_train_begin()
        for epoch in range(start, stop):
            began = time.perf_counter()
            hooks.on_epoch_begin(epoch)
            logs = trainer.epoch(epoch)
            if not math.isfinite(logs["loss"]):
                raise FloatingPointError(
                    f"training diverged: the loss is {logs['loss']} after epoch {epoch + 1}")
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            if callbacks or epoch + 1 == stop or model_read_at is None \
                    or epoch + 1 in model_read_at:
                lease.publish()
            hooks.on_epoch_end(epoch, logs)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, history)
            if on_epoch is not None:
                on_epoch(epoch + 1, dict(logs), time.perf_counter() - began)
    hooks.on_train_end(logs)
    return history
