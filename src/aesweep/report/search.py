"""A search's part of the report (``hydra/sweeper=search``): its rungs of successive
halving, its optimisation history and, with several objectives, the Pareto front.

Read from the runs' tags (trial, rung, pruned) and the parent's ``sweep.sweeper.*`` params,
so it needs nothing but the MLflow store, like the rest of the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aesweep.names import BOTTLENECK_PARAM, ENCODED, EPOCHS_PARAM, SWEEPER_PARAM
from aesweep.report.model import VAL_ENCODED, Report
from aesweep.report.numbers import decimals, plus_minus

HISTORY_FILE = "search_history.png"
OBJECTIVES_PARAM = f"{SWEEPER_PARAM}.objectives"
# Objectives name config keys; the cells name two of them by their short column.
_CELL_COLUMNS = {BOTTLENECK_PARAM: "bottleneck", EPOCHS_PARAM: "epochs"}


def trials(report: Report) -> pd.DataFrame:
    """One row per trial and rung it ran: its epochs, and its validation and test scores
    averaged over its repeats (seeds), and whether it was pruned there."""
    runs = report.runs.dropna(subset=["trial"])
    runs = runs.assign(epochs=pd.to_numeric(runs[EPOCHS_PARAM]), rung=runs.rung.fillna(0))
    table = runs.groupby(["trial", "rung"]).agg(
        epochs=("epochs", "max"), validation=(VAL_ENCODED, "mean"), test=(ENCODED, "mean"),
        repeats=("run_id", "count"), pruned=("pruned_at", lambda s: bool(s.notna().any())))
    return table.reset_index().astype({"trial": int, "rung": int, "epochs": int})


def rungs(report: Report) -> pd.DataFrame:
    """Per rung: its epochs, the configurations that ran it, how many were promoted to
    the next rung and how many stopped there, and the best mean validation score."""
    table, rows = trials(report), []
    for rung, part in table.groupby("rung"):
        above = set(table.trial[table.rung == rung + 1])
        best = (report.sign * part.validation).max() * report.sign
        rows.append({"rung": rung, "epochs": int(part.epochs.max()),
                     "configurations": part.trial.nunique(),
                     "promoted": sum(trial in above for trial in part.trial),
                     "pruned": int(part.pruned.sum()), "best validation": best})
    return pd.DataFrame(rows)


def objectives(report: Report) -> list[tuple[str, int]]:
    """The search's objectives as (cell column, +1 to maximise or -1 to minimise):
    ``validation`` is the encoded validation score, oriented by the main metric."""
    out = []
    for item in report.sweeper.get(OBJECTIVES_PARAM, "validation").split(","):
        words = item.split()
        if words == ["validation"]:
            out.append((VAL_ENCODED, report.sign))
        elif len(words) == 2 and words[0] in ("maximize", "minimize"):
            column = _CELL_COLUMNS.get(words[1], words[1])
            if column in report.cells:
                out.append((column, 1 if words[0] == "maximize" else -1))
    return out


def pareto_front(report: Report) -> pd.DataFrame | None:
    """With two or more objectives: the cells at the most epochs that no other such cell
    beats on every objective (ties count as not beaten). None with one objective."""
    goals = objectives(report)
    if len(goals) < 2:
        return None
    cells = report.cells[report.cells.epochs == report.cells.epochs.max()]
    scores = np.column_stack([direction * cells[column].to_numpy(float)
                              for column, direction in goals])
    dominated = [bool(np.any(np.all(scores >= row, axis=1) & np.any(scores > row, axis=1)))
                 for row in scores]
    return cells[~np.array(dominated)]


def text_lines(report: Report) -> list[str]:
    """The rungs (and the Pareto front) as plain text for the terminal; none for a grid."""
    if not report.is_search:
        return []
    d = decimals(report.cells[ENCODED])
    table = rungs(report)
    table["best validation"] = [plus_minus(v, np.nan, d) for v in table["best validation"]]
    lines = ["", f"search: {trials(report).trial.nunique()} trials; "
                 f"validation {report.metric} by rung (successive halving over epochs)",
             table.to_string(index=False)]
    front = pareto_front(report)
    if front is not None:
        lines += ["", "Pareto front (" + ", ".join(
            f"{'max' if sign > 0 else 'min'} {column}" for column, sign in objectives(report))
            + "):", front[["bottleneck", "epochs", *report.extra, VAL_ENCODED, ENCODED]]
                  .to_string(index=False, float_format=lambda v: f"{v:.{d}f}")]
    return lines


def markdown_lines(report: Report) -> list[str]:
    """report.md's search section: rungs, Pareto front and the history figure."""
    if not report.is_search:
        return []
    return ["## Search", "", "```", *text_lines(report)[1:], "```", "",
            f"![optimisation history]({HISTORY_FILE})", ""]


def history_figure(report: Report) -> Figure:
    """Each trial's mean validation score at the last rung it reached (colour: rung), and
    the best score so far among trials that reached the top rung."""
    table = trials(report)
    last = table.sort_values("rung").groupby("trial").tail(1).sort_values("trial")
    fig = Figure(figsize=(9.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for rung, part in last.groupby("rung"):
        ax.scatter(part.trial, part.validation, color=f"C{rung}", zorder=3,
                   label=f"stopped at rung {rung} ({part.epochs.max()} epochs)")
    top = last[last.rung == table.rung.max()]
    if len(top):
        best = (report.sign * top.validation).cummax() * report.sign
        ax.step(top.trial, best, where="post", color="black", linewidth=1,
                label="best so far at the top rung")
    ax.set_xlabel("trial")
    better = "lower" if report.sign < 0 else "higher"
    ax.set_ylabel(f"validation {report.metric} ({better} is better)")
    ax.set_title(f"{report.dataset}: search history (mean over repeats)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig
