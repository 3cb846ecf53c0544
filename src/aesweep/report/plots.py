"""The sweep report's two figures: main metric and reconstruction MSE vs bottleneck."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aesweep.names import BOTTLENECK_PARAM, ENCODED, PCA, RANDOM, RAW, RECON_MSE_TEST, SEED_PARAM
from aesweep.report.model import Report
from aesweep.report.text import decimals, plus_minus
from aesweep.stats import t_interval


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


def metric_figure(report: Report) -> Figure:
    """The main metric vs bottleneck: one line per epochs value (mean ± 95% CI over seeds),
    dashed PCA and untrained-encoder lines, and a band (mean ± CI) for raw features."""
    fig = Figure(figsize=(9.5, 5), layout="constrained")
    ax = fig.add_subplot()
    _encoder_lines(ax, report, ENCODED, "autoencoder, ")
    runs = report.runs.assign(bottleneck=pd.to_numeric(report.runs[BOTTLENECK_PARAM]))
    d = decimals(report.cells[ENCODED])
    for g, (label, part) in enumerate(_parts(runs, report.extra)):
        suffix = f", {label}" if label else ""
        for control, name, style, color, shift in (
                (PCA, "PCA, k = bottleneck", "s--", "black", 0.02),
                (RANDOM, "untrained encoder", "^:", "tab:brown", -0.02)):
            line = _over_seeds(part, control, ["bottleneck"])
            if len(line):
                _errorbar(ax, line.bottleneck, line["mean"], line.ci, shift, fmt=style,
                          color=f"C{g}" if report.extra else color, label=name + suffix)
        raw = _over_seeds(part, RAW, []).iloc[0]
        hw = raw.ci if np.isfinite(raw.ci) else 0.0
        color = f"C{g}" if report.extra else "0.4"
        ax.axhline(raw["mean"], color=color, linewidth=1)
        ax.axhspan(raw["mean"] - hw, raw["mean"] + hw, color=color, alpha=0.15, linewidth=0,
                   label=f"raw features{suffix}: {plus_minus(raw['mean'], raw.ci, d)}")
    better = "lower" if report.sign < 0 else "higher"
    _finish(ax, report, f"test {report.metric} ({better} is better)",
            f"{report.dataset}: {report.metric} vs bottleneck (mean ± 95% CI over seeds)")
    return fig


def recon_figure(report: Report) -> Figure:
    """Test reconstruction MSE vs bottleneck, one line per epochs value (mean ± 95% CI)."""
    fig = Figure(figsize=(9.5, 5), layout="constrained")
    ax = fig.add_subplot()
    _encoder_lines(ax, report, RECON_MSE_TEST, "")
    _finish(ax, report, "test reconstruction MSE (scaled features)",
            f"{report.dataset}: autoencoder reconstruction error vs bottleneck "
            "(mean ± 95% CI over seeds)")
    return fig
