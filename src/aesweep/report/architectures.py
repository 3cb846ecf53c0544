"""A sweep over architectures (``architecture=dense,denoising,sparse``): the cells grouped
by architecture, each architecture's own best cell, and the plain "what won where" table.

Each architecture is compared with the same controls as any cell: the raw features, PCA
with k = bottleneck, and the untrained encoder, which each job builds from its own
architecture. Data and text only: no MLflow calls, no figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aesweep.names import ARCHITECTURE_PARAM, CONTROLS, ENCODED, PCA, RANDOM, RAW, delta_key
from aesweep.report.model import ARCHITECTURE, VAL_ENCODED, Report
from aesweep.report.numbers import decimals, delta_text, plus_minus, significance

# What won a row of the "what won where" table, as its ``winner`` column names it.
WINNER_NAMES = {ENCODED: "encoded", PCA: "PCA", RAW: "raw", RANDOM: "untrained"}
WITHIN_NOISE = "within noise"
WON_WHERE_FOOTNOTE = (
    "What won where: each architecture and bottleneck at that architecture's epoch count "
    f"chosen on validation; Δ: encoded minus control (+ = encoder better), {ENCODED} and Δ "
    "± 95% t-interval over seeds ([paired bootstrap 95% CI] for one seed); * marks a Δ "
    "whose interval excludes 0; winner: the best mean of the row, "
    f"'({WITHIN_NOISE})' when the encoder's interval against it, or against the "
    "runner-up when the encoder won, includes 0.")


def architecture_first(keyed: pd.DataFrame, extra: list[str]) -> list[str]:
    """``extra`` with the architecture first, less the params that vary only because the
    architecture does (a member's own keys, ``architecture.l1``: constant within each
    architecture, absent from the others). Unchanged when the architecture does not vary."""
    if ARCHITECTURE_PARAM not in extra:
        return extra
    by = keyed.groupby(ARCHITECTURE_PARAM)
    return [ARCHITECTURE_PARAM, *(p for p in extra if p != ARCHITECTURE_PARAM
                                  and (by[p].nunique(dropna=False) > 1).any())]


def best_cell(report: Report, part: pd.DataFrame) -> int:
    """The row (in ``report.cells``) of ``part``'s best cell, chosen as the report chose
    its best: on validation where the runs logged it, else on the test rows; the one with
    the most epochs and bottleneck if neither has a score."""
    column = ENCODED if report.selected_by == "test" else VAL_ENCODED
    scores = report.sign * part[column]
    if scores.notna().any():
        return int(scores.idxmax())
    return int(part.sort_values(["epochs", "bottleneck"]).index[-1])


def _groups(report: Report) -> list[tuple[tuple, pd.DataFrame]]:
    by = report.extra
    if not by:
        return [((), report.cells)]
    return [(key if isinstance(key, tuple) else (key,), part)
            for key, part in report.cells.groupby(by, sort=False)]


def at_chosen_epochs(report: Report) -> pd.DataFrame:
    """The cells at each setting's chosen epoch count (that of its best cell, see
    :func:`best_cell`): one row per setting x bottleneck, in the cells' order."""
    keep = [part[part.epochs == part.epochs[best_cell(report, part)]].index
            for _, part in _groups(report)]
    return report.cells.loc[sorted(np.concatenate(keep))]


def _winner(cell: pd.Series, sign: int) -> str:
    """What had the best mean in ``cell``: the encoder or a control, with ``(within
    noise)`` when the encoder's interval against the winner (or, when the encoder won,
    against the runner-up) includes 0."""
    means = {name: sign * cell[name] for name in (ENCODED, *CONTROLS) if np.isfinite(cell[name])}
    if not means:
        return "n/a"
    ranked = sorted(means, key=means.__getitem__, reverse=True)
    top = ranked[0]
    if top == ENCODED:
        rival = ranked[1] if len(ranked) > 1 else None
        clear = rival is None or significance(cell, rival) > 0
    else:
        clear = ENCODED not in means or significance(cell, top) < 0
    return WINNER_NAMES[top] + ("" if clear else f" ({WITHIN_NOISE})")


def what_won_where(report: Report) -> pd.DataFrame:
    """The plain table of what won where, as display strings: one row per architecture
    (and setting of the other varying params) x bottleneck, at the architecture's chosen
    epoch count: the encoded metric mean ± 95% CI over seeds, Δ vs raw, PCA and the
    untrained encoder of the same architecture, each with its interval and ``*`` where the
    interval excludes 0, and the ``winner`` of the row (see :data:`WON_WHERE_FOOTNOTE`).

    Works for any report; without a varying architecture, its ``architecture`` column is
    the runs' one architecture (when they logged it)."""
    cells, d = at_chosen_epochs(report), decimals(report.cells[ENCODED])
    table = pd.DataFrame(index=cells.index)
    if ARCHITECTURE_PARAM in cells:
        table[ARCHITECTURE] = cells[ARCHITECTURE_PARAM].astype(str)
    elif ARCHITECTURE_PARAM in report.runs:
        table[ARCHITECTURE] = str(report.runs[ARCHITECTURE_PARAM].mode().iloc[0])
    for p in report.extra:
        if p != ARCHITECTURE_PARAM:
            table[p] = cells[p].astype(str)
    table["bottleneck"] = cells.bottleneck.astype(str)
    table["epochs"] = cells.epochs.astype(str)
    table["seeds"] = cells.seeds.astype(str)
    table[ENCODED] = [plus_minus(m, h, d) for m, h in zip(
        cells[ENCODED], cells[f"{ENCODED}_ci"], strict=True)]
    for control, title in ((RAW, "Δ vs raw"), (PCA, "Δ vs PCA"), (RANDOM, "Δ vs untrained")):
        if cells[control].notna().any():
            table[title] = [delta_text(c, control, d) + (" *" if significance(c, control) else "")
                            if np.isfinite(c[delta_key(control)]) else "n/a"
                            for _, c in cells.iterrows()]
    table["winner"] = [_winner(c, report.sign) for _, c in cells.iterrows()]
    return table.reset_index(drop=True)


def markdown(table: pd.DataFrame) -> list[str]:
    """A table of display strings as Markdown lines, numbers right-aligned."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---:|" * len(table.columns)]
    return lines + ["| " + " | ".join(row) + " |" for row in table.itertuples(index=False)]


def format_what_won_where(report: Report) -> str:
    """:func:`what_won_where` as Markdown, with its footnote."""
    return "\n".join([*markdown(what_won_where(report)), "", f"- {WON_WHERE_FOOTNOTE}"])


def _against(cell: pd.Series, control: str, name: str, d: int) -> str:
    """How ``cell`` fares against one control, in words, with its delta."""
    delta, clear = cell[delta_key(control)], significance(cell, control)
    text = delta_text(cell, control, d)
    if delta > 0:
        return f"beats {name} ({text})" if clear > 0 else \
            f"beats {name} only {WITHIN_NOISE} ({text})"
    return f"does not beat {name} ({text}{'' if clear else ', ' + WITHIN_NOISE})"


def architecture_verdict(report: Report) -> str:
    """A sentence per architecture on its own best cell (chosen as the report's best):
    where it is, and whether it beats raw, PCA and its untrained encoder on the test rows."""
    d = decimals(report.cells[ENCODED])
    parts = []
    for name, part in report.cells.groupby(ARCHITECTURE_PARAM, sort=False):
        cell = report.cells.loc[best_cell(report, part)]
        called = {RAW: "raw", PCA: f"PCA-{cell.pca_k}", RANDOM: "its untrained encoder"}
        against = [_against(cell, control, title, d) for control, title in called.items()
                   if np.isfinite(cell[delta_key(control)])]
        epochs = f"{cell.epochs} epoch{'' if cell.epochs == 1 else 's'}"
        others = [f"{p}={cell[p]}" for p in report.extra if p != ARCHITECTURE_PARAM]
        where = ", ".join([f"bottleneck {cell.bottleneck}", epochs, *others])
        parts.append(f"{name} ({where}, encoded "
                     f"{plus_minus(cell[ENCODED], cell[f'{ENCODED}_ci'], d)}) "
                     + (", ".join(against) if against else "has no controls"))
    return f"Per architecture, its best cell on {report.selected_briefly}: " \
           + "; ".join(parts) + "."

