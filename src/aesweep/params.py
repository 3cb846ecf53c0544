"""Parameter checks of an estimator, declared as tables: what each parameter allows is
written once and used twice, to check a value and to say what is allowed."""

from __future__ import annotations

from typing import Any, ClassVar

from aesweep.ranges import Interval, entries_problem, plain


class CheckedParams:
    """Mixin of a scikit-learn estimator whose parameters are checked by its tables:
    ``_RANGES`` (numbers; for a sequence, each entry), ``_OPTIONS`` (names), ``_TYPES``
    (other types, with how a message names them), ``_SEQUENCES`` (what a message calls
    their entries) and ``_NONE_ALLOWED``. ``_joint_problem`` checks parameters together.
    The estimator's ``get_params`` (``BaseEstimator``'s) lists what is checked."""

    _RANGES: ClassVar[dict[str, Interval]] = {}
    _OPTIONS: ClassVar[dict[str, tuple[str, ...]]] = {}
    _TYPES: ClassVar[dict[str, tuple[tuple[type, ...], str]]] = {}
    _SEQUENCES: ClassVar[dict[str, str]] = {}
    _NONE_ALLOWED: ClassVar[frozenset[str]] = frozenset()

    def find_invalid_param(self) -> tuple[str, str] | None:
        """The first parameter out of its type or range and what is allowed, e.g.
        ("bottleneck", "must be >= 1, got 0"); None when every parameter is valid."""
        for name, value in self.get_params(deep=False).items():
            problem = self._param_problem(name, plain(value))
            if problem is not None:
                return name, problem
        return self._joint_problem()

    def _joint_problem(self) -> tuple[str, str] | None:
        """A problem of parameters valid alone but not together, as (name, problem)."""
        return None

    def _param_problem(self, name: str, value: Any) -> str | None:
        if value is None and name in self._NONE_ALLOWED:
            return None
        or_none = " or None" if name in self._NONE_ALLOWED else ""
        if name in self._OPTIONS:
            options = self._OPTIONS[name]
            if isinstance(value, str) and value in options:
                return None
            return f"must be one of {', '.join(options)}, got {value!r}"
        if name in self._TYPES:
            types, what = self._TYPES[name]
            return None if isinstance(value, types) else f"must be {what}{or_none}, got {value!r}"
        if name in self._SEQUENCES:
            return entries_problem(value, self._RANGES[name], self._SEQUENCES[name], or_none)
        return self._RANGES[name].problem(value) if name in self._RANGES else None
