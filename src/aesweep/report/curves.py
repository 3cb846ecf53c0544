"""The figures' lines: the encoder and its controls vs bottleneck (mean ± 95% CI over
seeds), shared by the line figures and the heatmap figures' line panels; and, over
architectures, one curve per architecture at its chosen epoch count."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aesweep.names import BOTTLENECK_PARAM, PCA, RANDOM, RAW, SEED_PARAM
from aesweep.report.architectures import at_chosen_epochs
from aesweep.report.model import Report
from aesweep.report.numbers import plus_minus
from aesweep.stats import t_interval


def parts(frame: pd.DataFrame, by: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """``frame`` split by the ``by`` columns, each part with a label (one part if none)."""
    if not by:
        return [("", frame)]
    return [(", ".join(f"{p}={v}" for p, v in zip(by, key, strict=True)), part)
            for key, part in frame.groupby(by, sort=True)]


def over_seeds(runs: pd.DataFrame, column: str, by: list[str]) -> pd.DataFrame:
    """Mean and t half-width (``ci``) of ``column`` over seeds, by ``by``. Controls do not
    depend on epochs: a seed's runs are averaged first, so each seed counts once."""
    per_seed = runs.groupby([*by, SEED_PARAM])[column].mean().dropna().reset_index()
    rows = [(*np.atleast_1d(key)[:len(by)], *t_interval(part[column]))
            for key, part in per_seed.groupby(by or (lambda _: 0))]
    return pd.DataFrame(rows, columns=[*by, "mean", "ci"])


def errorbar(ax, x: pd.Series, mean: pd.Series, ci: pd.Series, shift: float, **style) -> None:
    """Error bars, dodged by ``shift`` (in log2 units) so overlapping bars stay readable."""
    ax.errorbar(np.asarray(x, dtype=float) * 2 ** shift, mean, yerr=ci.fillna(0), capsize=3,
                markersize=5, **style)


def finish(ax, report: Report, ylabel: str, title: str) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(report.cells.bottleneck.unique())
    ax.set_xticks(ticks, labels=[str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("bottleneck size (log\u2082 scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def controls(ax, runs: pd.DataFrame, suffix: str, d: int, color: str | None,
             untrained: bool = True) -> None:
    """PCA and the untrained encoder (mean ± CI over seeds) vs bottleneck, dashed, and the
    raw features as a band; all in ``color`` when given, else each in its own. Without
    ``untrained``, PCA and raw only (the caller draws an untrained encoder per architecture)."""
    for control, name, style, own, shift in (
            (PCA, "PCA, k = bottleneck", "s--", "black", 0.02),
            (RANDOM, "untrained encoder", "^:", "tab:brown", -0.02))[:2 if untrained else 1]:
        line = over_seeds(runs, control, ["bottleneck"])
        if len(line):
            errorbar(ax, line.bottleneck, line["mean"], line.ci, shift, fmt=style,
                      color=color or own, label=name + suffix)
    raw = over_seeds(runs, RAW, []).iloc[0]
    hw = raw.ci if np.isfinite(raw.ci) else 0.0
    ax.axhline(raw["mean"], color=color or "0.4", linewidth=1)
    ax.axhspan(raw["mean"] - hw, raw["mean"] + hw, color=color or "0.4", alpha=0.15,
               linewidth=0, label=f"raw features{suffix}: {plus_minus(raw['mean'], raw.ci, d)}")


def runs_frame(report: Report) -> pd.DataFrame:
    return report.runs.assign(bottleneck=pd.to_numeric(report.runs[BOTTLENECK_PARAM]))


def setting_label(report: Report, key: tuple) -> str:
    """A curve's name over architectures: ``dense``, or ``dense, optimizer.name=sgd``."""
    return ", ".join([str(key[0]), *(f"{p}={v}" for p, v in zip(
        report.extra[1:], key[1:], strict=True))])


def architecture_lines(ax, report: Report, column: str, d: int, with_controls: bool) -> None:
    """One curve of ``column`` per architecture (and setting of the other varying params)
    at its epoch count chosen on validation; with ``with_controls``, each architecture's
    untrained encoder dotted in its colour, and PCA and raw features once (they do not
    depend on the architecture)."""
    cells = at_chosen_epochs(report)
    runs = runs_frame(report).fillna({p: "" for p in report.extra})
    groups = list(cells.groupby(report.extra, sort=False))
    shifts = np.linspace(-0.05, 0.05, len(groups)) if len(groups) > 1 else [0.0]
    for g, (key, line) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        label, color = setting_label(report, key), f"C{g % 10}"
        epochs = int(line.epochs.iloc[0])
        errorbar(ax, line.bottleneck, line[column], line[f"{column}_ci"], shifts[g],
                 marker="oDvP^<>sX"[g % 9], color=color, label=f"{label}, {epochs} epochs")
        if with_controls:
            mine = runs[(runs[report.extra] == pd.Series(key, index=report.extra)).all(axis=1)]
            untrained = over_seeds(mine, RANDOM, ["bottleneck"])
            if len(untrained):
                errorbar(ax, untrained.bottleneck, untrained["mean"], untrained.ci,
                         shifts[g] - 0.02, fmt="^:", color=color, alpha=0.7,
                         label=f"untrained {label}")
    if with_controls:
        controls(ax, runs, "", d, None, untrained=False)
