"""The sweep report's two figures: main metric and reconstruction MSE vs bottleneck.

Up to ``MAX_EPOCH_LINES`` epoch counts, one line per epoch count; past that, heatmaps over
bottleneck x epochs beside the lines at the chosen epoch count (see :func:`metric_figure`).
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

from aesweep.names import (
    BOTTLENECK_PARAM,
    ENCODED,
    PCA,
    RANDOM,
    RAW,
    RECON_MSE_TEST,
    SEED_PARAM,
    delta_key,
)
from aesweep.report.model import CONTROL_NAMES, VAL_ENCODED, Report
from aesweep.report.text import decimals, plus_minus
from aesweep.stats import t_interval

# More epoch counts than this (in any setting of the extra params) and one line per count
# is unreadable: the figures switch to heatmaps.
MAX_EPOCH_LINES = 5
# Heatmap rows at most, one per setting of the extra params (the best cell's first); the
# rest are in report.csv.
MAX_HEATMAP_ROWS = 3
MAX_TICK_LABELS = 16  # per heatmap axis; every k-th value past that
NOT_SIGNIFICANT = "not significant"  # the label of the hatching on the delta heatmap


def _parts(frame: pd.DataFrame, by: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """``frame`` split by the ``by`` columns, each part with a label (one part if none)."""
    if not by:
        return [("", frame)]
    return [(", ".join(f"{p}={v}" for p, v in zip(by, key, strict=True)), part)
            for key, part in frame.groupby(by, sort=True)]


def _over_seeds(runs: pd.DataFrame, column: str, by: list[str]) -> pd.DataFrame:
    """Mean and t half-width (``ci``) of ``column`` over seeds, by ``by``. Controls do not
    depend on epochs: a seed's runs are averaged first, so each seed counts once."""
    per_seed = runs.groupby([*by, SEED_PARAM])[column].mean().dropna().reset_index()
    rows = [(*np.atleast_1d(key)[:len(by)], *t_interval(part[column]))
            for key, part in per_seed.groupby(by or (lambda _: 0))]
    return pd.DataFrame(rows, columns=[*by, "mean", "ci"])


def _errorbar(ax, x: pd.Series, mean: pd.Series, ci: pd.Series, shift: float, **style) -> None:
    """Error bars, dodged by ``shift`` (in log2 units) so overlapping bars stay readable."""
    ax.errorbar(np.asarray(x, dtype=float) * 2 ** shift, mean, yerr=ci.fillna(0), capsize=3,
                markersize=5, **style)


def _finish(ax, report: Report, ylabel: str, title: str) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(report.cells.bottleneck.unique())
    ax.set_xticks(ticks, labels=[str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("bottleneck size (log\u2082 scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _encoder_lines(ax, report: Report, column: str, what: str) -> None:
    """``column`` (mean ± CI) vs bottleneck, one line per epochs value (and extra params)."""
    parts = _parts(report.cells, report.extra)
    n_lines = sum(part.epochs.nunique() for _, part in parts)
    shifts = iter(np.linspace(-0.05, 0.05, n_lines) if n_lines > 1 else [0.0])
    for g, (label, part) in enumerate(parts):
        for i, (epochs, line) in enumerate(part.groupby("epochs")):
            _errorbar(ax, line.bottleneck, line[column], line[f"{column}_ci"], next(shifts),
                      marker="oDvP^<>"[i % 7], color=f"C{g if report.extra else i}",
                      label=f"{what}{epochs} epochs{', ' + label if label else ''}")


def _controls(ax, runs: pd.DataFrame, suffix: str, d: int, color: str | None) -> None:
    """PCA and the untrained encoder (mean ± CI over seeds) vs bottleneck, dashed, and the
    raw features as a band; all in ``color`` when given, else each in its own."""
    for control, name, style, own, shift in (
            (PCA, "PCA, k = bottleneck", "s--", "black", 0.02),
            (RANDOM, "untrained encoder", "^:", "tab:brown", -0.02)):
        line = _over_seeds(runs, control, ["bottleneck"])
        if len(line):
            _errorbar(ax, line.bottleneck, line["mean"], line.ci, shift, fmt=style,
                      color=color or own, label=name + suffix)
    raw = _over_seeds(runs, RAW, []).iloc[0]
    hw = raw.ci if np.isfinite(raw.ci) else 0.0
    ax.axhline(raw["mean"], color=color or "0.4", linewidth=1)
    ax.axhspan(raw["mean"] - hw, raw["mean"] + hw, color=color or "0.4", alpha=0.15,
               linewidth=0, label=f"raw features{suffix}: {plus_minus(raw['mean'], raw.ci, d)}")


def _runs(report: Report) -> pd.DataFrame:
    return report.runs.assign(bottleneck=pd.to_numeric(report.runs[BOTTLENECK_PARAM]))


def _many_epochs(report: Report) -> bool:
    """Whether one line per epoch count would be too many (see ``MAX_EPOCH_LINES``)."""
    return any(part.epochs.nunique() > MAX_EPOCH_LINES
               for _, part in _parts(report.cells, report.extra))


def _heatmap_rows(report: Report) -> tuple[list[tuple[str, pd.DataFrame]], int]:
    """The settings of the extra params drawn as heatmap rows, the best cell's first (at
    most ``MAX_HEATMAP_ROWS``), and how many settings there are."""
    parts = _parts(report.cells, report.extra)
    parts.sort(key=lambda item: report.best not in item[1].index)  # stable: others keep order
    return parts[:MAX_HEATMAP_ROWS], len(parts)


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
    runs = dict(_parts(_runs(report).fillna({p: "" for p in report.extra}), report.extra))
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
        _errorbar(ax[-1], line.bottleneck, line[column], line[f"{column}_ci"], 0.0,
                  marker="o", color="C0", label=f"autoencoder, {epochs} epochs")
        if with_delta:
            _controls(ax[-1], runs[label], "", d, None)
        _finish(ax[-1], report, ylabel, f"{prefix}{what} at {epochs} epochs ({chosen}),\n"
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


def metric_figure(report: Report) -> Figure:
    """The main metric vs bottleneck: one line per epochs value (mean ± 95% CI over seeds),
    dashed PCA and untrained-encoder lines, and a band (mean ± CI) for raw features.

    Past ``MAX_EPOCH_LINES`` epoch counts: a heatmap of the metric over bottleneck x epochs,
    one of the delta vs PCA (non-significant cells hatched), and the lines above at the
    epoch count of the best cell (on validation); a row per setting of the extra params."""
    better = "lower" if report.sign < 0 else "higher"
    ylabel = f"test {report.metric} ({better} is better)"
    if _many_epochs(report):
        return _heatmap_figure(report, ENCODED, f"autoencoder {report.metric}", ylabel,
                               with_delta=True)
    fig = Figure(figsize=(9.5, 5), layout="constrained")
    ax = fig.add_subplot()
    _encoder_lines(ax, report, ENCODED, "autoencoder, ")
    d = decimals(report.cells[ENCODED])
    for g, (label, part) in enumerate(_parts(_runs(report), report.extra)):
        _controls(ax, part, f", {label}" if label else "", d, f"C{g}" if report.extra else None)
    _finish(ax, report, ylabel,
            f"{report.dataset}: {report.metric} vs bottleneck (mean ± 95% CI over seeds)")
    return fig


def recon_figure(report: Report) -> Figure:
    """Test reconstruction MSE vs bottleneck, one line per epochs value (mean ± 95% CI);
    past ``MAX_EPOCH_LINES`` epoch counts, its heatmap and the line at the chosen count."""
    ylabel = "test reconstruction MSE (scaled features)"
    if _many_epochs(report):
        return _heatmap_figure(report, RECON_MSE_TEST, "reconstruction MSE", ylabel,
                               with_delta=False)
    fig = Figure(figsize=(9.5, 5), layout="constrained")
    ax = fig.add_subplot()
    _encoder_lines(ax, report, RECON_MSE_TEST, "")
    _finish(ax, report, ylabel,
            f"{report.dataset}: autoencoder reconstruction error vs bottleneck "
            "(mean ± 95% CI over seeds)")
    return fig
