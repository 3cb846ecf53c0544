"""The sweep report (``aesweep-report``): one row per cell of runs that differ only by
seed, every feature set's main metric with a 95% t-interval, the deltas against each
control, a one-sentence verdict and two plots; and the per-job table of a multirun.

It reads runs through the MLflow API only, so it works the same on the embedded SQLite
store and on a tracking server. No TensorFlow: it starts in seconds.

Modules, each importing only those above it: ``model`` (the data), ``text`` (verdict and
tables), ``build`` (MLflow -> Report), ``plots``, ``table`` (the per-job table) and ``cli``.
"""

from __future__ import annotations

from aesweep.report.build import build_report, sweep_members
from aesweep.report.cli import log_report, main, sweep_report, write_report
from aesweep.report.model import FILES, Report, ReportError
from aesweep.report.table import sweep_table

__all__ = ["FILES", "Report", "ReportError", "build_report", "log_report", "main",
           "sweep_members", "sweep_report", "sweep_table", "write_report"]
