"""The Hydra callback that runs in the sweep's driver process, around the whole sweep.

Hydra turns an exception raised in a callback into a ``UserWarning`` and goes on, which
would lose the sweep silently; every hook here fails the command instead, with one line.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from aesweep.errors import FAILED, fail
from aesweep.names import (
    ENV_MASK,
    EPOCHS_PARAM,
    SWEEP_GRID_PREFIX,
    SWEEP_OVERRIDES_PARAM,
    SWEEPER_PARAM,
)
from aesweep.paths import check_writable, claim_dir

_OPEN_SWEEPS: list[TrackingCallback] = []
# Jobs the launcher reported dead without a result (a lost Ray node), by job number:
# (their overrides, why). Filled by aesweep's sweeper in this process.
LOST_JOBS: dict[int, tuple[list[str], str]] = {}


def close_open_sweeps(status: str) -> None:
    """End every sweep parent this process opened (e.g. KILLED on Ctrl-C)."""
    for callback in list(_OPEN_SWEEPS):
        callback.close(status)


def _loud(hook: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(hook)
    def guarded(self: TrackingCallback, config: DictConfig, **kwargs: Any) -> None:
        try:
            hook(self, config, **kwargs)
        except Exception as error:  # SystemExit and KeyboardInterrupt pass through
            self.close("FAILED", error)
            fail(error)
    return guarded


def _quote(value: str) -> str:
    """A value as a quoted string in Hydra's override grammar."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _as_typed(overrides: Any) -> list[str]:
    """Overrides as typed: iterating the node would resolve "${oc.env:...}" in their text."""
    return [str(o) for o in OmegaConf.to_container(overrides, resolve=False)]


def sweeper_params(sweeper: DictConfig | None) -> dict[str, str]:
    """The sweeper's name and settings, flattened to ``sweep.sweeper.<key>`` params (lists
    joined by commas), without its search space or grid, which ``sweep.grid.*`` holds."""
    if sweeper is None:
        return {}
    settings = OmegaConf.to_container(sweeper, resolve=False)
    assert isinstance(settings, dict)
    target = str(settings.pop("_target_", ""))
    name = target.rsplit(".", 1)[-1].removesuffix("Sweeper").lower() or "unknown"
    params = {SWEEPER_PARAM: "aesweep" if name == "aesweep" else name}
    settings.pop("params", None)

    def flatten(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                flatten(f"{prefix}.{key}", inner)
        elif value is not None:
            params[prefix] = ",".join(map(str, value)) if isinstance(value, list) else str(value)

    flatten(SWEEPER_PARAM, settings)
    return params


def _claim_sweep_dir(config: DictConfig) -> list[str]:
    """The default sweep dir is a timestamp, which another sweep started in the same second
    may hold: take a free one (``-2``, …) and return the override that gives it to the jobs.
    A dir given on the command line is used as it is (to resume a sweep, say)."""
    if any(o.startswith("hydra.sweep.dir=") for o in _as_typed(config.hydra.overrides.hydra)):
        return []
    claimed = str(claim_dir(config.hydra.sweep.dir))
    with read_write(config.hydra):
        config.hydra.sweep.dir = claimed
    return [f"hydra.sweep.dir={_quote(claimed)}"]


class TrackingCallback(Callback):
    """Create the MLflow store and the sweep's parent run before any job starts; print
    the sweep table and the report, list failures and close the parent at the end.

    What jobs need from the driver (the parent's id, the sweep's epoch counts and swept
    keys) reaches them as overrides, so it works with any launcher, local or remote,
    without inherited environment variables or a round trip through MLflow.
    """

    def __init__(self) -> None:
        self._parent: str | None = None
        self._swept_keys: list[str] = []
        self._store: Any = None
        self._redactor: Any = None

    @_loud
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable(config.hydra.run.dir, "hydra.run.dir")

    @_loud
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from aesweep.paths import pin_root
        from aesweep.tracking import overrides, runs
        from aesweep.tracking.redaction import Redactor, redact_logs
        from aesweep.tracking.store import open_store

        redact_logs()  # the launcher logs each job's overrides
        pin_root(config, Path.cwd())
        check_writable(config.hydra.sweep.dir, "hydra.sweep.dir")
        for_jobs = _claim_sweep_dir(config)
        # Jobs may run in parallel processes: create tables, experiment and parent here.
        self._store = open_store(config.tracking)
        self._redactor = Redactor(config)
        task = _as_typed(config.hydra.overrides.task)
        grid = overrides.sweep_grid(OmegaConf.select(config, "hydra.sweeper.params"), task)
        params = {SWEEP_OVERRIDES_PARAM: " ".join(overrides.public(task, self._redactor))
                  or "(none)"}
        params |= sweeper_params(OmegaConf.select(config, "hydra.sweeper"))
        params |= {f"{SWEEP_GRID_PREFIX}{key}": ENV_MASK if self._redactor.is_env(key, ",".join(
            values)) else ",".join(values) for key, values in grid.items()}
        name = "sweep " + overrides.run_name(task, self._redactor)
        self._swept_keys = list(grid)
        LOST_JOBS.clear()
        self._parent = runs.start_sweep_run(self._store, self._redactor, name, params)
        _OPEN_SWEEPS.append(self)
        atexit.register(self.close, "FAILED")  # only still open if the sweep crashed
        epochs = sorted({int(e) for e in grid.get(EPOCHS_PARAM, []) if e.isdigit()})
        for_jobs += [f"tracking.parent_run_id={self._parent}",
                     f"paths.root={_quote(str(config.paths.root))}",
                     f"sweep.epochs=[{','.join(map(str, epochs))}]",
                     f"sweep.swept_keys=[{','.join(_quote(key) for key in grid)}]"]
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.overrides.hydra.extend(for_jobs)

    @_loud
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from aesweep.report import sweep_report, sweep_table
        from aesweep.tracking.runs import failed_children
        from aesweep.tracking.store import browse_hint

        assert self._parent is not None, "on_multirun_start did not open the sweep"
        self._close_orphans("FAILED")
        print(sweep_table(self._store.uri, self._parent), flush=True)
        failed = failed_children(self._store, self._parent)
        report_error = None
        try:
            print(sweep_report(self._store.uri, config.tracking.experiment, self._parent,
                               Path(config.hydra.sweep.dir, "report")), flush=True)
        except Exception as error:
            report_error = error
        print(browse_hint(self._store, self._parent), flush=True)
        if report_error is None:
            print(self._view_hint(), flush=True)
        if report_error is not None and not failed:
            raise report_error  # a report that fails fails the sweep
        if failed:
            print(f"aesweep: {len(failed)} job(s) failed:", file=sys.stderr)
            for name, error in failed:
                print(f"  {name}: {error}", file=sys.stderr)
            self.close("FAILED", f"{len(failed)} job(s) failed")
            if report_error is not None:  # e.g. no job finished: say why there is no report
                fail(report_error, code=FAILED)
            sys.stderr.flush()
            sys.exit(FAILED)
        self.close("FINISHED")

    def _view_hint(self) -> str:
        """The sweep's comparison view in the MLflow UI (see :mod:`aesweep.tracking.view`)."""
        from aesweep.tracking.view import publish, view_hint

        assert self._parent is not None
        url = publish(self._store.client, self._store.experiment_id, self._parent,
                      self._store.uri)
        return view_hint(url, self._store.uri)

    def close(self, status: str, error: BaseException | str | None = None) -> None:
        if self._parent is None:
            return
        from aesweep.tracking.runs import end_run

        if status != "FINISHED":  # e.g. Ctrl-C: the jobs it interrupted
            with contextlib.suppress(Exception):
                self._close_orphans(status)
        parent, self._parent = self._parent, None
        _OPEN_SWEEPS.remove(self)
        end_run(self._store, parent, status, error, self._redactor)

    def _close_orphans(self, status: str) -> None:
        from aesweep.tracking import overrides, runs

        assert self._parent is not None
        lost = {num: (overrides.run_name(job, self._redactor, self._swept_keys), why)
                for num, (job, why) in LOST_JOBS.items()}
        runs.close_orphans(self._store, self._redactor, self._parent, status, lost)
