"""Hydra callbacks that run in the driver process, around the whole sweep."""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from aesweep.errors import AesweepError

_OPEN_SWEEPS: list[TrackingCallback] = []


def sweep_params(config: DictConfig) -> dict[str, str]:
    """The parent run's params: the command line's overrides and the swept grid."""
    # tracking.uri can carry credentials: never logged.
    overrides = [o for o in config.hydra.overrides.task if not o.startswith("tracking.uri=")]
    grid = {str(k): str(v) for k, v in (config.hydra.sweeper.get("params") or {}).items()}
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            grid[override.get_key_element()] = override.input_line.partition("=")[2]
    return {"sweep.overrides": " ".join(overrides) or "(none)",
            **{f"sweep.grid.{key}": values for key, values in grid.items()}}


def close_open_sweeps(status: str) -> None:
    """End every sweep parent this process opened (e.g. KILLED on Ctrl-C)."""
    for callback in list(_OPEN_SWEEPS):
        callback.close(status)


class TrackingCallback(Callback):
    """Create the MLflow store and the sweep's parent run before any job starts; report,
    list failures and close the parent at the end.

    The parent's id reaches each job as the override ``tracking.parent_run_id``, so it
    works with any launcher, local or remote, without inherited environment variables.
    """

    def __init__(self) -> None:
        self._parent: str | None = None
        self._uri: str | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from aesweep import tracking

        check_writable(config.hydra.sweep.dir, "hydra.sweep.dir")

        # Jobs may run in parallel processes: create tables, experiment and parent here.
        grid = sweep_params(config)
        name = "sweep " + tracking.run_name(list(config.hydra.overrides.task))
        try:
            self._parent = tracking.start_sweep_run(config.tracking, name, grid)
        except AesweepError as error:
            print(f"aesweep: error: {error}", file=sys.stderr, flush=True)
            sys.exit(2)  # Hydra turns callback exceptions into warnings; this must stop
        self._uri = config.tracking.uri
        _OPEN_SWEEPS.append(self)
        atexit.register(self.close, "FAILED")  # only still open if the sweep crashed
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.overrides.hydra.append(f"tracking.parent_run_id={self._parent}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from aesweep import tracking
        from aesweep.report import sweep_report
        from aesweep.summary import sweep_table

        assert self._parent is not None and self._uri is not None
        print(sweep_table(self._uri, self._parent), flush=True)
        failed = tracking.failed_children(self._uri, self._parent)
        report_dir = Path(config.hydra.sweep.dir, "report")
        print(sweep_report(self._uri, config.tracking.experiment, self._parent, report_dir),
              flush=True)
        if failed:
            print(f"aesweep: {len(failed)} job(s) failed:", file=sys.stderr)
            for name, error in failed:
                print(f"  {name}: {error}", file=sys.stderr)
            self.close("FAILED")
            sys.stderr.flush()
            sys.exit(1)
        self.close("FINISHED")

    def close(self, status: str) -> None:
        if self._parent is None or self._uri is None:
            return
        from aesweep import tracking

        tracking.end_run(self._uri, self._parent, status)
        self._parent = None
        _OPEN_SWEEPS.remove(self)


def check_writable(directory: str, key: str) -> None:
    """Exit with one line if ``directory`` cannot be created: Hydra would otherwise fail
    with a traceback when it makes the job's output directory."""
    path = Path(directory).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        what = "is not a directory" if not existing.is_dir() else "is not writable"
        print(f"aesweep: error: {key}={directory}: {existing} {what}", file=sys.stderr,
              flush=True)
        sys.exit(2)
