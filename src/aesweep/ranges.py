"""Numeric ranges, each written once and used twice: to check a value and to say what
is allowed (``must be in [0, 1), got 1.0``)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Interval:
    """Values of type ``kind`` between ``low`` and ``high`` (None: unbounded); ``closed``
    says which ends are allowed, as in :func:`sklearn.utils.check_scalar`."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def __str__(self) -> str:
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        low, high = _number(self.low), _number(self.high)
        if self.high is None:
            return f"{'>=' if left else '>'} {low}"
        if self.low is None:
            return f"{'<=' if right else '<'} {high}"
        return f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"

    def problem(self, value: object) -> str | None:
        """None when ``value`` is allowed, else what is wrong, e.g. ``must be >= 1, got 0``."""
        number = int | float if self.kind is float else int
        wrong_type = isinstance(value, bool) or not isinstance(value, number)
        if wrong_type:
            return f"must be {'an integer' if self.kind is int else 'a number'}, got {value!r}"
        assert isinstance(value, int | float)
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        too_low = self.low is not None and (value < self.low if left else value <= self.low)
        too_high = self.high is not None and (value > self.high if right else value >= self.high)
        if too_low or too_high or math.isnan(value):
            return f"must be {self}, got {value}"
        return None


def _number(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plain(value: Any) -> Any:
    """A NumPy scalar (e.g. from ``np.arange`` in a parameter grid) as its Python value.

    NumPy is not imported for this (a config check needs no NumPy): a value can only be a
    NumPy scalar once NumPy is loaded."""
    numpy = sys.modules.get("numpy")
    return value.item() if numpy is not None and isinstance(value, numpy.generic) else value


def entries_problem(value: Any, interval: Interval, entries: str, or_none: str) -> str | None:
    """What is wrong with a sequence whose every entry must lie in ``interval``, if any."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return f"must be a sequence of integers{or_none}, got {value!r}"
    values = [plain(v) for v in value]
    if all(interval.problem(v) is None for v in values):
        return None
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    return f"{entries} must be {interval if integers else 'integers'}, got {values}"
