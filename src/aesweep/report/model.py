"""The sweep report's data: the :class:`Report`, its error and the names of its parts.

Data only: no MLflow calls, no files, no formatting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from aesweep import names
from aesweep.errors import AesweepError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# Each control as the table's column titles show it.
CONTROL_NAMES = {names.RAW: "raw", names.PCA: "PCA", names.RANDOM: "random"}
# What a cell summarises over its seeds: a ``<quantity>`` mean and a ``<quantity>_ci`` column.
QUANTITIES = (names.RECON_MSE_TEST, names.ENCODED, *names.CONTROLS,
              *(names.delta_key(control) for control in names.CONTROLS))
MINUS = "\u2212"  # typographic minus in printed numbers
FILES = ("report.md", "report.csv", "metric_vs_bottleneck.png", "recon_mse_vs_bottleneck.png")


class ReportError(AesweepError):
    """A store, experiment, sweep or metric the report cannot find."""


@dataclass
class Report:
    """A sweep's report. ``runs``: one row per FINISHED child run; ``cells``: one row per
    cell, with ``<quantity>`` (mean) and ``<quantity>_ci`` (t half-width) columns."""

    experiment: str
    sweep_id: str
    metric: str
    task: str
    dataset: str
    overrides: str
    statuses: dict[str, int]  # every child run, by status
    extra: list[str]  # params other than bottleneck and epochs that vary across cells
    runs: pd.DataFrame
    cells: pd.DataFrame
    verdict: str = ""
    client: MlflowClient | None = field(default=None, repr=False)

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 for error metrics (see :func:`aesweep.names.sign`)."""
        return names.sign(self.metric)
