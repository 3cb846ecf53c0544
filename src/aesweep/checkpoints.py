"""Saved training states on local disk, by training config and epoch count:
``<root>/<key>/epochs_<E>.keras`` (the compiled autoencoder, optimizer state included) and
``epochs_<E>.history.json``. (:mod:`aesweep.tracking.checkpoints` moves them through MLflow.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aesweep.runtime import keras

History = dict[str, list[float]]


class Checkpoints:
    """Saved states of one training config (everything but the epoch count), by epochs."""

    def __init__(self, root: str | os.PathLike[str], key: str) -> None:
        self.directory = Path(root) / key

    def _model(self, epochs: int) -> Path:
        return self.directory / f"epochs_{epochs}.keras"

    def _history(self, epochs: int) -> Path:
        return self.directory / f"epochs_{epochs}.history.json"

    def files(self, epochs: int) -> tuple[Path, Path]:
        """A checkpoint's files: the model, then the history (whose presence marks it whole)."""
        return self._model(epochs), self._history(epochs)

    def saved(self) -> list[int]:
        """The epoch counts of the complete checkpoints, ascending."""
        if not self.directory.is_dir():
            return []
        counts = (int(p.name.split("_")[1].split(".")[0])
                  for p in self.directory.glob("epochs_*.history.json"))
        return sorted(e for e in counts if self._model(e).is_file())

    def best(self, at_most: int) -> int | None:
        """The largest saved epoch count <= ``at_most``, if any."""
        return max((e for e in self.saved() if e <= at_most), default=None)

    def save(self, model: keras.Model, epochs: int, history: History) -> None:
        """Write atomically: a reader never sees a half-written checkpoint."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".tmp-{os.getpid()}-{epochs}"
        model.save(f"{tmp}.keras")
        Path(f"{tmp}.json").write_text(json.dumps(history))
        os.replace(f"{tmp}.keras", self._model(epochs))
        os.replace(f"{tmp}.json", self._history(epochs))  # written last: marks it complete

    def load(self, epochs: int) -> tuple[keras.Model, History]:
        """The compiled autoencoder (optimizer state included) and its history."""
        model = keras.models.load_model(self._model(epochs))
        history = json.loads(self._history(epochs).read_text())
        return model, history
