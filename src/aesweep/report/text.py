"""The sweep report as text: the verdict sentence, the terminal table and report.md."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from aesweep.names import ENCODED, PAIRED_CONTROLS, PCA, RANDOM, RAW, RECON_MSE_TEST, delta_key
from aesweep.report.model import CONTROL_NAMES, FILES, MINUS, VAL_ENCODED, Report


def decimals(values: pd.Series) -> int:
    """Decimals showing 3 significant digits of the largest value."""
    top = np.nanmax(np.abs(values.to_numpy(dtype=float))) if len(values) else np.nan
    return 3 if not np.isfinite(top) or top == 0 else max(0, min(6, 2 - math.floor(
        math.log10(top))))


def _num(x: float, d: int, signed: bool = False) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:{'+' if signed else ''}.{d}f}".replace("-", MINUS)


def plus_minus(mean: float, hw: float, d: int, signed: bool = False) -> str:
    return _num(mean, d, signed) + (f" ± {_num(hw, d)}" if np.isfinite(hw) else "")


def _better(report: Report) -> str:
    return "lower" if report.sign < 0 else "higher"


def _delta(cell: pd.Series, control: str, d: int) -> str:
    """Δ ± t half-width over seeds; for one seed, [the job's paired bootstrap CI]."""
    q = delta_key(control)
    if cell.seeds > 1 or not np.isfinite(cell[f"{q}_low"]):
        return plus_minus(cell[q], cell[f"{q}_ci"], d, signed=True)
    low, high = (_num(cell[f"{q}_{end}"], d, signed=True) for end in ("low", "high"))
    return f"{_num(cell[q], d, signed=True)} [{low}, {high}]"


def verdict(report: Report) -> str:
    """One plain sentence naming the cell chosen on validation, then its test figures and
    how it fares against each control on the test rows."""
    cells, d = report.cells, decimals(report.cells[ENCODED])
    best = cells.loc[report.best]
    called = {RAW: "raw", PCA: f"PCA-{best.pca_k}", RANDOM: "an untrained encoder"}
    beats, fails = [], []
    for control, name in called.items():
        q = delta_key(control)
        delta, low, high = best[q], best[f"{q}_low"], best[f"{q}_high"]
        if not np.isfinite(delta):
            continue
        known = np.isfinite(low) and np.isfinite(high)
        noise = "within noise" if known and low <= 0 <= high else ""
        if delta > 0:
            note = noise or ("" if known else "no interval")
            beats.append(f"{_num(delta, d, True)} over {name}" + (f" ({note})" if note else ""))
        else:
            fails.append(f"{name} ({_delta(best, control, d)}{', ' + noise if noise else ''})")
    where = ", ".join([f"bottleneck {best.bottleneck}",
                       f"{best.epochs} epoch{'' if best.epochs == 1 else 's'}",
                       *(f"{p}={best[p]}" for p in report.extra)])
    if np.isfinite(best[VAL_ENCODED]):
        where += f" ({plus_minus(best[VAL_ENCODED], best[f'{VAL_ENCODED}_ci'], d)})"
    text = (f"best on {report.selected_briefly}: {where}; on the test rows, encoded "
            f"{plus_minus(best[ENCODED], best[f'{ENCODED}_ci'], d)}")
    if beats:
        text += "; " + ", ".join(beats)
    if fails:
        text += f"{',' if beats else ''} but it does not beat {' or '.join(fails)}"
    n = int(best.seeds)
    return f"{text} ({n} seed{'s' if n > 1 else ''}; {report.metric}, " \
           f"{_better(report)} is better)"


def _table(report: Report) -> pd.DataFrame:
    """The cells as display strings; ``*`` marks the chosen cell."""
    cells, d = report.cells, decimals(report.cells[ENCODED])
    dr = decimals(cells[RECON_MSE_TEST])
    table = cells[["bottleneck", "epochs", *report.extra, "seeds"]].astype(str)
    table.insert(0, "best", ["*" if i == report.best else "" for i in cells.index])
    table[RECON_MSE_TEST] = [plus_minus(m, h, dr) for m, h in zip(
        cells[RECON_MSE_TEST], cells[f"{RECON_MSE_TEST}_ci"], strict=True)]
    if cells[VAL_ENCODED].notna().any():  # side by side with the test score: the gap shows
        table["encoded (val)"] = [plus_minus(m, h, d) for m, h in zip(
            cells[VAL_ENCODED], cells[f"{VAL_ENCODED}_ci"], strict=True)]
    for q, title in ((ENCODED, ENCODED), *CONTROL_NAMES.items()):
        if cells[q].notna().any():
            table[title] = [plus_minus(m, h, d)
                            for m, h in zip(cells[q], cells[f"{q}_ci"], strict=True)]
    for control in PAIRED_CONTROLS:
        if cells[control].notna().any():
            table[f"Δ vs {CONTROL_NAMES[control]}"] = [_delta(c, control, d)
                                                        for _, c in cells.iterrows()]
    table["p vs raw"] = [f"{_num(p, 3)} ({t})" if np.isfinite(p) else "n/a"
                         for p, t in zip(cells.p_value, cells.p_test, strict=True)]
    return table


def _header(report: Report) -> list[str]:
    counts = ", ".join(f"{n} {s}" for s, n in report.statuses.items() if s != "FINISHED")
    return [f"sweep {report.sweep_id} ({report.experiment}, {report.dataset}): "
            f"{len(report.runs)} finished runs in {len(report.cells)} cells"
            + (f"; ignored: {counts}" if counts else ""),
            f"{report.metric} ({_better(report)} is better): mean ± half-width of the 95% "
            "t-interval over seeds",
            f"best (*): chosen on {report.selected_on}, shown as 'encoded (val)'; every "
            "other column is on the test rows, used once, for reporting"]


FOOTNOTES = ("Δ: encoded minus control, signed so that + means the encoder is better; "
             "± 95% t-interval over seeds, or [paired bootstrap 95% CI on the test rows] "
             "for one-seed cells.",
             "p vs raw: (t) paired t-test of encoded vs raw across seeds; (McNemar) McNemar's "
             "exact test on the test rows of a one-seed cell (accuracy only).")


def format_table(report: Report) -> str:
    """The header, the table and its footnotes, for the terminal."""
    body = _table(report).to_string(index=False)
    return "\n".join([*_header(report), "", body, "", *FOOTNOTES])


def _markdown_table(report: Report) -> list[str]:
    table = _table(report)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---:|" * len(table.columns)]
    return lines + ["| " + " | ".join(row) + " |" for row in table.itertuples(index=False)]


def format_markdown(report: Report) -> str:
    """report.md: the header, the verdict, the table, its footnotes and the two figures."""
    return "\n".join([
        f"# Sweep report: {report.dataset}, {report.metric}", "",
        *(f"- {line}" for line in _header(report)),
        f"- overrides: `{report.overrides}`" if report.overrides else "", "",
        f"**Verdict:** {report.verdict}", "", *_markdown_table(report), "",
        *(f"- {n}" for n in FOOTNOTES), "",
        f"![metric vs bottleneck]({FILES[2]})", "",
        f"![reconstruction MSE vs bottleneck]({FILES[3]})", ""])


def format_note(report: Report, limit: int) -> str:
    """The sweep parent's description in the MLflow UI (Markdown, at most ``limit``
    characters): the verdict first, then the table, cut by whole rows if it is too long."""
    head = [f"**Verdict:** {report.verdict}", "", *(f"- {line}" for line in _header(report)), ""]
    tail = ["", *(f"- {n}" for n in FOOTNOTES), "",
            "The full report with its figures: the run's artifacts, under `report/`."]
    rows = _markdown_table(report)
    while len(rows) > 2:
        text = "\n".join([*head, *rows, *tail])
        if len(text) <= limit:
            return text
        rows = rows[:-1]
        tail[0] = "(more rows in `report/report.md`)"
    return "\n".join([*head, *tail])[:limit]
