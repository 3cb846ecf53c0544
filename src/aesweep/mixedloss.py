"""The autoencoder's loss on a mixed table's preprocessed rows (see :mod:`aesweep.tabular`):
MSE on the numeric columns and softmax cross-entropy on each categorical one-hot block."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aesweep.runtime import keras

ops = keras.ops


@keras.saving.register_keras_serializable(package="aesweep")
class MixedReconstructionLoss(keras.losses.Loss):
    """Rows (batch, n_numeric + sum(blocks)), numeric columns first; the reconstruction's
    blocks are logits. Per row: the mean over the numeric columns' squared errors and the
    blocks' cross-entropies, a categorical column weighing as much as a numeric one."""

    def __init__(self, n_numeric: int, blocks: Sequence[int],
                 name: str = "mixed_reconstruction", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.n_numeric, self.blocks = int(n_numeric), [int(width) for width in blocks]

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """(batch, n_features) twice -> (batch,)."""
        n = self.n_numeric
        total = ops.sum(ops.square(y_pred[:, :n] - y_true[:, :n]), axis=1)
        start = n
        for width in self.blocks:
            logits = y_pred[:, start:start + width]
            # A category unseen in fit is an all-zero block: it adds nothing.
            total += -ops.sum(y_true[:, start:start + width]
                              * ops.log_softmax(logits, axis=1), axis=1)
            start += width
        return total / (n + len(self.blocks))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n_numeric": self.n_numeric, "blocks": self.blocks}
