"""The sweep report (``aesweep-report``): one row per cell of runs that differ only by
seed, every feature set's main metric with a 95% t-interval, the deltas against each
control, a one-sentence verdict and two plots; and the per-job table of a multirun.

It reads runs through the MLflow API only, so it works the same on the embedded SQLite
store and on a tracking server. No TensorFlow: it starts in seconds.

Modules, each importing only those above it: ``model`` (the data), ``numbers`` (printed
numbers), ``architectures`` (a sweep over architectures: per-architecture verdict, what won
where), ``text`` (verdict and tables), ``build`` (MLflow -> Report), ``curves`` and ``plots``
(the figures), ``table`` (the per-job table), ``command`` (files, artifacts and the run of
``aesweep-report``) and ``cli`` (its arguments; it imports ``command`` after parsing them).

The names below are imported on first use, so that importing the package (as
``aesweep-report --help`` does, through ``cli``) loads none of MLflow, pandas or Matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aesweep.report.architectures import format_what_won_where, what_won_where
    from aesweep.report.build import build_report, sweep_members
    from aesweep.report.cli import main
    from aesweep.report.command import log_report, sweep_report, write_report
    from aesweep.report.model import FILES, Report, ReportError
    from aesweep.report.table import sweep_table

# Each public name and the module that defines it.
_SOURCES = {
    "format_what_won_where": "architectures", "what_won_where": "architectures",
    "build_report": "build", "sweep_members": "build",
    "main": "cli",
    "log_report": "command", "sweep_report": "command", "write_report": "command",
    "FILES": "model", "Report": "model", "ReportError": "model",
    "sweep_table": "table",
}

__all__ = ["FILES", "Report", "ReportError", "build_report", "format_what_won_where",
           "log_report", "main", "sweep_members", "sweep_report", "sweep_table",
           "what_won_where", "write_report"]


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        return getattr(importlib.import_module(f"{__name__}.{_SOURCES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
