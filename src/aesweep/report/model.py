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


def val_column(feature_set: str) -> str:
    """``val_encoded``: the runs' and cells' column of a feature set's validation score."""
    return f"val_{feature_set}"


VAL_ENCODED = val_column(names.ENCODED)  # what the best cell is chosen on
# What a cell summarises over its seeds: a ``<quantity>`` mean and a ``<quantity>_ci`` column.
QUANTITIES = (names.RECON_MSE_TEST, names.ENCODED, *names.CONTROLS,
              *(val_column(name) for name in (names.ENCODED, *names.CONTROLS)),
              *(names.delta_key(control) for control in names.CONTROLS))
# The runs' columns of a search's tags (hydra/sweeper=search); NaN for a grid's runs.
SEARCH_TAGS = {"trial": names.TRIAL_TAG, "rung": names.RUNG_TAG, "pruned_at": names.PRUNED_TAG}
ARCHITECTURE = "architecture"  # the tables' title of names.ARCHITECTURE_PARAM
MINUS = "\u2212"  # typographic minus in printed numbers
FILES = ("report.md", "report.csv", "metric_vs_bottleneck.png", "recon_mse_vs_bottleneck.png")


class ReportError(AesweepError):
    """A store, experiment, sweep or metric the report cannot find."""


@dataclass
class Report:
    """A sweep's report. ``runs``: one row per FINISHED child run; ``cells``: one row per
    cell, with ``<quantity>`` (mean) and ``<quantity>_ci`` (t half-width) columns.

    The best cell is chosen on validation scores and reported on the test rows: the best
    of many noisy test scores would overstate the winner (the winner's curse)."""

    experiment: str
    sweep_id: str
    metric: str
    task: str
    dataset: str
    overrides: str
    statuses: dict[str, int]  # every child run, by status
    # Params other than bottleneck and epochs that vary across cells; when the architecture
    # varies, it first, and not the keys that vary only with it (see report.architectures).
    extra: list[str]
    runs: pd.DataFrame
    cells: pd.DataFrame
    best: int  # the chosen cell's row in ``cells``: best mean on ``selected_by``
    selected_by: str  # what chose it: "holdout", "cv<K>" (the runs' VALIDATION_TAG) or "test"
    verdict: str = ""
    client: MlflowClient | None = field(default=None, repr=False)
    # The parent's sweeper params (``sweep.sweeper``: "search", ``sweep.sweeper.objectives``..)
    sweeper: dict[str, str] = field(default_factory=dict)

    @property
    def selected_on(self) -> str:
        """What chose the best cell, in words: "the validation rows", ..."""
        if self.selected_by == "test":
            return ("the test rows (these runs logged no validation scores; re-run to "
                    "choose on validation)")
        folds = self.selected_by.removeprefix("cv")
        return (f"{folds}-fold cross-validation on the training rows" if folds.isdigit()
                else "the validation rows")

    @property
    def selected_briefly(self) -> str:
        """The same in a word or two: "validation", "5-fold CV" or "test"."""
        folds = self.selected_by.removeprefix("cv")
        return (f"{folds}-fold CV" if folds.isdigit()
                else "test" if self.selected_by == "test" else "validation")

    @property
    def is_search(self) -> bool:
        """Whether the sweep was a search (its runs carry Optuna trial numbers)."""
        return bool(self.runs["trial"].notna().any())

    @property
    def by_architecture(self) -> bool:
        """Whether the sweep varies the architecture: its cells, tables and figures are
        then grouped by it (see :mod:`aesweep.report.architectures`)."""
        return names.ARCHITECTURE_PARAM in self.extra

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 for error metrics (see :func:`aesweep.names.sign`)."""
        return names.sign(self.metric)
