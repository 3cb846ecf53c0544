"""The sweep report's two figures: main metric and reconstruction MSE vs bottleneck.

Up to ``MAX_EPOCH_LINES`` epoch counts, one line per epoch count (over architectures, one
per architecture at its chosen epoch count); past that, heatmaps over bottleneck x epochs
beside the lines at the chosen epoch count, a row per setting (see :func:`metric_figure`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection, QuadMesh
from matplotlib.colors import CenteredNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from aesweep.names import ENCODED, PCA, RAW, RECON_MSE_TEST, delta_key
from aesweep.report.curves import (
    architecture_lines,
    controls,
    errorbar,
    finish,
    parts,
    runs_frame,
)
from aesweep.report.model import CONTROL_NAMES, VAL_ENCODED, Report
from aesweep.report.numbers import decimals

# More epoch counts than this (in any setting of the extra params) and one line per count
# is unreadable: the figures switch to heatmaps.
MAX_EPOCH_LINES = 5
# Heatmap rows at most, one per setting of the extra params (the best cell's first); the
# rest are in report.csv.
MAX_HEATMAP_ROWS = 3
MAX_TICK_LABELS = 16  # per heatmap axis; every k-th value past that
NOT_SIGNIFICANT = "not significant"  # the label of the hatching on the delta heatmap


def _encoder_lines(ax, report: Report, column: str, what: str) -> None:
    """``column`` (mean ± CI) vs bottleneck, one line per epochs value (and extra params)."""
    settings = parts(report.cells, report.extra)
    n_lines = sum(part.epochs.nunique() for _, part in settings)
    shifts = iter(np.linspace(-0.05, 0.05, n_lines) if n_lines > 1 else [0.0])
    for g, (label, part) in enumerate(settings):
        for i, (epochs, line) in enumerate(part.groupby("epochs")):
            errorbar(ax, line.bottleneck, line[column], line[f"{column}_ci"], next(shifts),
                      marker="oDvP^<>"[i % 7], color=f"C{g if report.extra else i}",
                      label=f"{what}{epochs} epochs{', ' + label if label else ''}")


def _many_epochs(report: Report) -> bool:
    """Whether one line per epoch count would be too many (see ``MAX_EPOCH_LINES``)."""
    return any(part.epochs.nunique() > MAX_EPOCH_LINES
               for _, part in parts(report.cells, report.extra))


def _heatmap_rows(report: Report) -> tuple[list[tuple[str, pd.DataFrame]], int]:
    """The settings of the extra params drawn as heatmap rows, the best cell's first (at
    most ``MAX_HEATMAP_ROWS``), and how many settings there are."""
    rows = parts(report.cells, report.extra)
    rows.sort(key=lambda item: report.best not in item[1].index)  # stable: others keep order
    return rows[:MAX_HEATMAP_ROWS], len(rows)


def _chosen_epochs(report: Report, part: pd.DataFrame) -> tuple[int, str]:
    """The epoch count of ``part``'s best cell, chosen as the report chose its best cell
    (on validation where the runs logged it), and what chose it; the largest if none can."""
    column = ENCODED if report.selected_by == "test" else VAL_ENCODED
    scores = report.sign * part[column]
    if scores.notna().any():
        return int(part.epochs[scores.idxmax()]), f"best on {report.selected_briefly}"
    return int(part.epochs.max()), "the most epochs"


def _spread(values: list[int], most: int) -> list[int]:
    """About ``most`` of the sorted ``values``, evenly spread on a log scale (where every
    k-th would crowd the large ones)."""
    gap = math.log2(values[-1] / values[0]) / most
    kept = [values[0]]
    for value in values[1:]:
        if math.log2(value / kept[-1]) >= gap:
            kept.append(value)
    return kept


def _grid(part: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` as epochs (rows, ascending) x bottleneck (columns, ascending); NaN where
    no cell ran."""
    return part.pivot(index="epochs", columns="bottleneck", values=column).sort_index(
        axis=0).sort_index(axis=1)


def _tick_labels(values: pd.Index) -> tuple[np.ndarray, list[str]]:
    """Ticks at cell centres, every k-th labelled when there are too many to read."""
    step = math.ceil(len(values) / MAX_TICK_LABELS)
    ticks = np.arange(0, len(values), step)
    return ticks + 0.5, [str(values[i]) for i in ticks]


def _heatmap(fig: Figure, ax: Axes, grid: pd.DataFrame, cmap: str, norm: Normalize | None,
             label: str, title: str) -> QuadMesh:
    """``grid`` as coloured cells (grey where no cell ran), its colour bar and labels; the
    colours span the values unless ``norm`` says otherwise."""
    mesh = ax.pcolormesh(np.ma.masked_invalid(grid.to_numpy(dtype=float)), cmap=cmap,
                         norm=norm)
    ax.set_facecolor("0.85")
    ax.set_xticks(*_tick_labels(grid.columns))
    ax.set_yticks(*_tick_labels(grid.index))
    ax.set_xlabel("bottleneck size")
    ax.set_ylabel("epochs")
    ax.set_title(title, fontsize="medium")
    fig.colorbar(mesh, ax=ax, label=label)
    return mesh


def _position(grid: pd.DataFrame, bottleneck: float, epochs: float) -> tuple[float, float]:
    """The centre of a cell on a heatmap of ``grid``."""
    return grid.columns.get_loc(bottleneck) + 0.5, grid.index.get_loc(epochs) + 0.5


def _mark_best(ax: Axes, report: Report, part: pd.DataFrame, grid: pd.DataFrame) -> str:
    """A star on the report's best cell when it is in ``part``; the title's note of it."""
    if report.best not in part.index:
        return ""
    best = part.loc[report.best]
    ax.plot(*_position(grid, best.bottleneck, best.epochs), marker="*", markersize=14,
            color="white", markeredgecolor="black", linestyle="none")
    return f"; \u2605 best on {report.selected_briefly}"


def _delta_heatmap(fig: Figure, ax: Axes, report: Report, part: pd.DataFrame,
                   prefix: str) -> None:
    """The delta vs PCA (vs raw when PCA did not run), + = encoder better, on a diverging
    scale centred at 0; hatched where its 95% interval includes 0 or is unknown."""
    control = PCA if part[delta_key(PCA)].notna().any() else RAW
    q = delta_key(control)
    grid = _grid(part, q)
    top = np.nanmax(np.abs(grid.to_numpy(dtype=float)), initial=0.0)
    name = CONTROL_NAMES[control]
    _heatmap(fig, ax, grid, "RdBu", CenteredNorm(0.0, halfrange=top if top > 0 else 1.0),
             f"\u0394 {report.metric} vs {name} (+ = encoder better)",
             f"{prefix}\u0394 vs {name} at the same size (+ = encoder better)\nhatched: "
             f"{NOT_SIGNIFICANT} (its 95% CI includes 0)")
    unclear = part[~((part[f"{q}_low"] > 0) | (part[f"{q}_high"] < 0))]
    hatch = PatchCollection(
        [Rectangle(np.subtract(_position(grid, b, e), 0.5), 1, 1)
         for b, e in zip(unclear.bottleneck, unclear.epochs, strict=True)],
        facecolor="none", edgecolor="0.25", linewidth=0, hatch="///", label=NOT_SIGNIFICANT)
    ax.add_collection(hatch)


def _heatmap_figure(report: Report, column: str, what: str, ylabel: str,
                    with_delta: bool) -> Figure:
    """Per setting of the extra params (see ``_heatmap_rows``): ``column`` (mean over
    seeds) over bottleneck x epochs, the delta heatmap when ``with_delta``, and the lines
    vs bottleneck at the chosen epoch count, with the controls when ``with_delta``."""
    rows, n_settings = _heatmap_rows(report)
    panels = 3 if with_delta else 2
    fig = Figure(figsize=(6.2 * panels, 4.8 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), panels, squeeze=False)
    # NaN as "" in the extra params, as in the cells, so that each row finds its runs
    runs = dict(parts(runs_frame(report).fillna({p: "" for p in report.extra}), report.extra))
    d = decimals(report.cells[ENCODED])
    lower_better = column == RECON_MSE_TEST or report.sign < 0
    for (label, part), ax in zip(rows, axes, strict=True):
        prefix = f"{label}\n" if label else ""
        grid = _grid(part, column)
        _heatmap(fig, ax[0], grid, "viridis_r" if lower_better else "viridis", None, ylabel,
                 f"{prefix}{what} (mean over seeds)")
        ax[0].set_title(ax[0].get_title() + _mark_best(ax[0], report, part, grid),
                        fontsize="medium")
        if with_delta:
            _delta_heatmap(fig, ax[1], report, part, prefix)
        epochs, chosen = _chosen_epochs(report, part)
        line = part[part.epochs == epochs]
        errorbar(ax[-1], line.bottleneck, line[column], line[f"{column}_ci"], 0.0,
                  marker="o", color="C0", label=f"autoencoder, {epochs} epochs")
        if with_delta:
            controls(ax[-1], runs[label], "", d, None)
        finish(ax[-1], report, ylabel, f"{prefix}{what} at {epochs} epochs ({chosen}),\n"
                                        "mean ± 95% CI over seeds")
        ticks = sorted(report.cells.bottleneck.unique())
        if len(ticks) > MAX_TICK_LABELS:
            ticks = _spread(ticks, MAX_TICK_LABELS)
            ax[-1].set_xticks(ticks, labels=[str(t) for t in ticks])
    hidden = n_settings - len(rows)
    shown = f"; {hidden} more setting{'s' * (hidden > 1)} of {', '.join(report.extra)} in " \
        "report.csv" if hidden else ""
    fig.suptitle(f"{report.dataset}: {what} over bottleneck \u00d7 epochs "
                 f"({report.cells.epochs.nunique()} epoch counts){shown}")
    return fig


def _architecture_figure(report: Report, column: str, what: str, ylabel: str,
                         with_controls: bool) -> Figure:
    """Over architectures (up to ``MAX_EPOCH_LINES`` epoch counts): one curve per
    architecture at its epoch count chosen as the best cell is, and the controls."""
    fig = Figure(figsize=(10.5, 5.2), layout="constrained")
    ax = fig.add_subplot()
    architecture_lines(ax, report, column, decimals(report.cells[column]), with_controls)
    finish(ax, report, ylabel, f"{report.dataset}: {what} vs bottleneck by architecture, "
           f"each at its epochs chosen on {report.selected_briefly}\n(mean ± 95% CI over seeds)")
    return fig


def metric_figure(report: Report) -> Figure:
    """The main metric vs bottleneck: one line per epochs value (mean ± 95% CI over seeds),
    dashed PCA and untrained-encoder lines, and a band (mean ± CI) for raw features.

    Past ``MAX_EPOCH_LINES`` epoch counts: a heatmap of the metric over bottleneck x epochs,
    one of the delta vs PCA (non-significant cells hatched), and the lines above at the
    epoch count of the best cell (on validation); a row per setting of the extra params.

    Over architectures (and up to ``MAX_EPOCH_LINES`` epoch counts): one curve per
    architecture at its chosen epoch count, its untrained encoder, PCA and raw features."""
    better = "lower" if report.sign < 0 else "higher"
    ylabel = f"test {report.metric} ({better} is better)"
    if _many_epochs(report):
        return _heatmap_figure(report, ENCODED, f"autoencoder {report.metric}", ylabel,
                               with_delta=True)
    if report.by_architecture:
        return _architecture_figure(report, ENCODED, report.metric, ylabel, with_controls=True)
    fig = Figure(figsize=(9.5, 5), layout="constrained")
    ax = fig.add_subplot()
    _encoder_lines(ax, report, ENCODED, "autoencoder, ")
    d = decimals(report.cells[ENCODED])
    for g, (label, part) in enumerate(parts(runs_frame(report), report.extra)):
        controls(ax, part, f", {label}" if label else "", d, f"C{g}" if report.extra else None)
    finish(ax, report, ylabel,
            f"{report.dataset}: {report.metric} vs bottleneck (mean ± 95% CI over seeds)")
    return fig


def recon_figure(report: Report) -> Figure:
    """Test reconstruction MSE vs bottleneck, one line per epochs value (mean ± 95% CI);
    past ``MAX_EPOCH_LINES`` epoch counts, its heatmap and the line at the chosen count."""
    ylabel = "test reconstruction MSE (scaled features)"
    if _many_epochs(report):
        return _heatmap_figure(report, RECON_MSE_TEST, "reconstruction MSE", ylabel,
                               with_delta=False)
    if report.by_architecture:
        return _architecture_figure(report, RECON_MSE_TEST, "autoencoder reconstruction "
                                    "error", ylabel, with_controls=False)
    fig = Figure(figsize=(9.5, 5), layout="constrained")
    ax = fig.add_subplot()
    _encoder_lines(ax, report, RECON_MSE_TEST, "")
    finish(ax, report, ylabel,
            f"{report.dataset}: autoencoder reconstruction error vs bottleneck "
            "(mean ± 95% CI over seeds)")
    return fig
