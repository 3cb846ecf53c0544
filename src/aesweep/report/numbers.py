"""Numbers as the report prints them: decimals, ``mean ± half-width``, deltas with
their intervals. Shared by the verdict, the tables and the figures' labels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from aesweep.names import delta_key
from aesweep.report.model import MINUS


def decimals(values: pd.Series) -> int:
    """Decimals showing 3 significant digits of the largest value."""
    top = np.nanmax(np.abs(values.to_numpy(dtype=float))) if len(values) else np.nan
    return 3 if not np.isfinite(top) or top == 0 else max(0, min(6, 2 - math.floor(
        math.log10(top))))


def num(x: float, d: int, signed: bool = False) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:{'+' if signed else ''}.{d}f}".replace("-", MINUS)


def p_text(p: float) -> str:
    """A p-value to 3 decimals; one that would round to 0.000 reads ``<0.001``."""
    return "<0.001" if p < 0.0005 else num(p, 3)  # NaN: num's "n/a"


def plus_minus(mean: float, hw: float, d: int, signed: bool = False) -> str:
    return num(mean, d, signed) + (f" ± {num(hw, d)}" if np.isfinite(hw) else "")


def delta_text(cell: pd.Series, control: str, d: int) -> str:
    """Δ ± t half-width over seeds; for one seed, [the job's paired bootstrap CI]."""
    q = delta_key(control)
    if cell.seeds > 1 or not np.isfinite(cell[f"{q}_low"]):
        return plus_minus(cell[q], cell[f"{q}_ci"], d, signed=True)
    low, high = (num(cell[f"{q}_{end}"], d, signed=True) for end in ("low", "high"))
    return f"{num(cell[q], d, signed=True)} [{low}, {high}]"


def significance(cell: pd.Series, control: str) -> int:
    """+1 when the delta's interval lies above 0 (the encoder is better), -1 below, 0 when
    it includes 0 or is unknown (one seed without the job's paired CI)."""
    q = delta_key(control)
    low, high = cell[f"{q}_low"], cell[f"{q}_high"]
    return 1 if low > 0 else -1 if high < 0 else 0
