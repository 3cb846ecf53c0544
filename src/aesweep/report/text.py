"""The sweep report as text: the verdict sentence, the terminal table and report.md."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aesweep.names import (
    ARCHITECTURE_PARAM,
    ENCODED,
    PAIRED_CONTROLS,
    PCA,
    RANDOM,
    RAW,
    RECON_MSE_TEST,
    delta_key,
)
from aesweep.report.architectures import (
    WON_WHERE_FOOTNOTE,
    architecture_verdict,
    format_what_won_where,
    markdown,
    what_won_where,
)
from aesweep.report.model import ARCHITECTURE, CONTROL_NAMES, FILES, VAL_ENCODED, Report
from aesweep.report.numbers import decimals, delta_text, num, p_text, plus_minus

WON_WHERE_HEADING = "## What won where"


def _better(report: Report) -> str:
    return "lower" if report.sign < 0 else "higher"


def verdict(report: Report) -> str:
    """One plain sentence naming the cell chosen on validation, then its test figures and
    how it fares against each control on the test rows."""
    cells, d = report.cells, decimals(report.cells[ENCODED])
    best = cells.loc[report.best]
    arch = report.by_architecture  # name it, and compare with its own untrained encoder
    untrained = f"an untrained {best[ARCHITECTURE_PARAM]} encoder" if arch else \
        "an untrained encoder"
    called = {RAW: "raw", PCA: f"PCA-{best.pca_k}", RANDOM: untrained}
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
            beats.append(f"{num(delta, d, True)} over {name}" + (f" ({note})" if note else ""))
        else:
            fails.append(f"{name} ({delta_text(best, control, d)}{', ' + noise if noise else ''})")
    where = ", ".join([*([str(best[ARCHITECTURE_PARAM])] if arch else []),
                       f"bottleneck {best.bottleneck}",
                       f"{best.epochs} epoch{'' if best.epochs == 1 else 's'}",
                       *(f"{p}={best[p]}" for p in report.extra[arch:])])
    if np.isfinite(best[VAL_ENCODED]):
        where += f" ({plus_minus(best[VAL_ENCODED], best[f'{VAL_ENCODED}_ci'], d)})"
    text = (f"best on {report.selected_briefly}: {where}; on the test rows, encoded "
            f"{plus_minus(best[ENCODED], best[f'{ENCODED}_ci'], d)}")
    if beats:
        text += "; " + ", ".join(beats)
    if fails:
        text += f"{',' if beats else ''} but it does not beat {' or '.join(fails)}"
    n = int(best.seeds)
    text = f"{text} ({n} seed{'s' if n > 1 else ''}; {report.metric}, " \
           f"{_better(report)} is better)"
    return f"{text}. {architecture_verdict(report)}" if arch else text


def _table(report: Report) -> pd.DataFrame:
    """The cells as display strings; ``*`` marks the chosen cell."""
    cells, d = report.cells, decimals(report.cells[ENCODED])
    dr = decimals(cells[RECON_MSE_TEST])
    first = report.extra[:report.by_architecture]  # the architecture, when it varies
    table = cells[[*first, "bottleneck", "epochs", *report.extra[len(first):], "seeds"]
                  ].astype(str).rename(columns={ARCHITECTURE_PARAM: ARCHITECTURE})
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
            table[f"Δ vs {CONTROL_NAMES[control]}"] = [delta_text(c, control, d)
                                                        for _, c in cells.iterrows()]
    table["p vs raw"] = [f"{p_text(p)} ({t})" if np.isfinite(p) else "n/a"
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
    """The header, the table and its footnotes, for the terminal; over architectures, then
    the table of what won where."""
    body = _table(report).to_string(index=False)
    won = ["", "What won where:", what_won_where(report).to_string(index=False), "",
           WON_WHERE_FOOTNOTE] if report.by_architecture else []
    return "\n".join([*_header(report), "", body, "", *FOOTNOTES, *won])


def _markdown_table(report: Report) -> list[str]:
    return markdown(_table(report))


def format_markdown(report: Report) -> str:
    """report.md: the header, the verdict, the table, its footnotes and the two figures."""
    return "\n".join([
        f"# Sweep report: {report.dataset}, {report.metric}", "",
        *(f"- {line}" for line in _header(report)),
        f"- overrides: `{report.overrides}`" if report.overrides else "", "",
        f"**Verdict:** {report.verdict}", "", *_markdown_table(report), "",
        *(f"- {n}" for n in FOOTNOTES), "",
        *([WON_WHERE_HEADING, "", format_what_won_where(report), ""]
          if report.by_architecture else []),
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
