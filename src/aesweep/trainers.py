"""Compiled trainers, kept for the next model of the same structure in this process.

Tracing a model's training step and instantiating its graph costs about 1 s on a laptop
core (XLA: seconds more), more than all the epochs of a small job. A sweep trains many
models of one structure, the same layers, optimizer and loss with other weights (another
seed, or a checkpoint it resumes from). So :func:`lend` keeps one trainer per structure,
bound to a model of its own, its *workspace*: a model of that structure trains by having
its state (weights, optimizer slots, seed-generator states) copied into the workspace,
training there, and getting the state copied back. The workspace runs the graph the
model's own trainer would run, on the same values: the results are the same, bit for bit.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from aesweep.runtime import keras, tf
from aesweep.training import Noise, Trainer

# Structures kept (least recently used dropped first): a sweep's bottleneck sizes, say.
MAX_KEPT = 4


def structure_key(model: keras.Model, jit_compile: bool, noise: Noise | None,
                  beta: float | None) -> str:
    """What a compiled training step depends on besides the model's values: its layers,
    its compile arguments (optimizer, loss) and the trainer's options."""
    return json.dumps([json.loads(model.to_json()), model.get_compile_config(),
                       jit_compile, noise, beta], sort_keys=True, default=repr)


def model_state(model: keras.Model) -> list[tf.Variable]:
    """Everything training reads or writes: the model's variables (weights, BatchNorm
    statistics, seed-generator states) and its optimizer's (step, learning rate, slots)."""
    return [v.value for v in (*model.variables, *model.optimizer.variables)]


def copy_state(source: keras.Model, target: keras.Model) -> None:
    """Assign ``source``'s state to ``target``'s (~5 ms for a quickstart model: a compiled
    copy would save 3 ms and cost a trace per structure)."""
    for value, variable in zip(model_state(source), model_state(target), strict=True):
        variable.assign(value)


def layout(model: keras.Model) -> list[tuple[tuple[int, ...], str]]:
    """The shapes and dtypes of the model's state, in order: what a copy must match."""
    return [(tuple(v.shape), v.dtype.name) for v in model_state(model)]


class Kept:
    """A trainer on its own workspace model."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.layout = layout(trainer.model)

    def fits(self, model: keras.Model) -> bool:
        return layout(model) == self.layout


class Lease:
    """A kept trainer lent to train ``owner``; :meth:`publish` copies the trained state
    back into the owner."""

    def __init__(self, kept: Kept, owner: keras.Model) -> None:
        self.kept, self.owner = kept, owner

    @property
    def trainer(self) -> Trainer:
        return self.kept.trainer

    def publish(self) -> None:
        if self.trainer.model is not self.owner:
            copy_state(self.trainer.model, self.owner)


_kept: OrderedDict[str, Kept] = OrderedDict()
_lock = threading.Lock()


def _workspace(model: keras.Model) -> keras.Model:
    """A compiled model of ``model``'s structure: its config and compile arguments,
    as a checkpoint restores them."""
    workspace = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    workspace.optimizer.build(workspace.trainable_variables)
    return workspace


@contextmanager
def lend(model: keras.Model, X: np.ndarray, X_val: np.ndarray | None, *, batch_size: int,
         seed: int, jit_compile: bool, noise: Noise | None = None,
         beta: float | None = None) -> Iterator[Lease]:
    """A trainer for ``model`` on ``X`` (see :class:`aesweep.training.Trainer`), the one
    kept for its structure when there is one, with ``model``'s state copied in. A trainer
    is lent to one model at a time: concurrent fits of one structure get trainers of
    their own. The caller publishes the state when the owner must hold it."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    key = structure_key(model, jit_compile, noise, beta)
    with _lock:
        kept = _kept.pop(key, None)
    options = {"jit_compile": jit_compile, "noise": noise, "beta": beta}
    if kept is not None and kept.fits(model):
        kept.trainer.bind(X, X_val, batch_size=batch_size, seed=seed)
    else:
        workspace = _workspace(model)
        if layout(workspace) != layout(model):  # it does not serialize back to itself
            yield Lease(Kept(Trainer(model, X, X_val, batch_size=batch_size, seed=seed,
                                     **options)), model)
            return
        kept = Kept(Trainer(workspace, X, X_val, batch_size=batch_size, seed=seed, **options))
    copy_state(model, kept.trainer.model)
    try:
        yield Lease(kept, model)
    finally:
        kept.trainer.release()
        with _lock:
            _kept[key] = kept
            while len(_kept) > MAX_KEPT:
                _kept.popitem(last=False)


def forget() -> None:
    """Drop every kept trainer (tests; memory)."""
    with _lock:
        _kept.clear()
