"""The sweep report (``aesweep-report``): one row per cell of runs that differ only by
seed, every feature set's main metric with a 95% t-interval, the deltas against each
control, a one-sentence verdict and two plots; and the per-job table of a multirun.

It reads runs through the MLflow API only, so it works the same on the embedded SQLite
store and on a tracking server. No TensorFlow: it starts in seconds.

Modules, each importing only those above it: ``model`` (the data), ``numbers`` (printed
numbers), ``architectures`` (a sweep over architectures: per-architecture verdict, what won
where), ``text`` (verdict and tables), ``build`` (MLflow -> Report), ``curves`` and ``plots``
(the figures), ``table`` (the per-job table) and ``cli``.
"""

from __future__ import annotations

from aesweep.report.architectures import format_what_won_where, what_won_where
from aesweep.report.build import build_report, sweep_members
from aesweep.report.cli import log_report, main, sweep_report, write_report
from aesweep.report.model import FILES, Report, ReportError
from aesweep.report.table import sweep_table

__all__ = ["FILES", "Report", "ReportError", "build_report", "format_what_won_where",
           "log_report", "main", "sweep_members", "sweep_report", "sweep_table",
           "what_won_where", "write_report"]
