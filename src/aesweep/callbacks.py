"""Hydra callbacks that run in the driver process, around the whole run or sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class TrackingCallback(Callback):
    """Create the MLflow store before any job starts; summarise the sweep at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from aesweep import tracking

        # Jobs may run in parallel processes: create tables and experiment once, here.
        tracking.ensure_experiment(config.tracking)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from aesweep.summary import sweep_table

        print(sweep_table(config.tracking, str(Path(config.hydra.sweep.dir).resolve())),
              flush=True)
