"""The command line's overrides, parsed once with Hydra's own parser: what of them may be
logged, the names of runs, and the grid a sweep varies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override

from aesweep.names import ENV_MASK
from aesweep.tracking.redaction import PRIVATE_KEYS, Redactor


def parse(overrides: Iterable[str]) -> list[Override]:
    return OverridesParser.create().parse_overrides(list(overrides))


def _value_text(override: Override) -> str:
    """The value as typed (``8,16,32``, ``${oc.env:X}``); empty for ``~key``."""
    return override.input_line.partition("=")[2]


def _hidden(override: Override) -> bool:
    key = override.key_or_group
    return key in PRIVATE_KEYS or key.startswith("hydra.")


def public(overrides: Iterable[str], redactor: Redactor) -> list[str]:
    """The overrides as they may be logged, in every form (``key=``, ``+key=``, ``++key=``,
    ``~key``): private keys dropped, environment values masked, credentials redacted."""
    shown = []
    for override in parse(overrides):
        if _hidden(override):
            continue
        if redactor.is_env(override.key_or_group, _value_text(override)):
            shown.append(f"{override.get_key_element()}={ENV_MASK}")
        else:
            shown.append(redactor.text(override.input_line))
    return shown


def run_name(overrides: Iterable[str], redactor: Redactor,
             keys: Sequence[str] | None = None) -> str:
    """A short name from the overrides: ``bottleneck=8 epochs=5 seed=1``.

    ``keys`` keeps just those keys (a sweep's children are named by the swept keys).
    """
    parts = []
    for override in parse(overrides):
        key = override.key_or_group
        if _hidden(override) or (keys is not None and key not in keys):
            continue
        value = _value_text(override)
        value = ENV_MASK if redactor.is_env(key, value) else redactor.text(value)
        leaf = key.rsplit(".", 1)[-1]
        parts.append(f"{leaf}={value}" if value else f"~{leaf}")
    return " ".join(parts) or "defaults"


def sweep_grid(sweeper_params: Mapping[str, object] | None,
               task_overrides: Iterable[str]) -> dict[str, list[str]]:
    """The values of every key a sweep varies: ``hydra.sweeper.params`` (an experiment's
    grid or a search space), then the command line's sweep overrides, which win, as in
    Hydra's sweeper. A continuous range (``interval(1e-4, 1e-2)``) is kept as typed."""
    lines = [f"{key}={value}" for key, value in (sweeper_params or {}).items()]
    grid: dict[str, list[str]] = {}
    for override in parse([*lines, *task_overrides]):
        if override.is_sweep_override():
            discrete = not override.is_interval_sweep()
            grid[override.key_or_group] = (list(override.sweep_string_iterator()) if discrete
                                           else [_value_text(override)])
        elif override.key_or_group in grid:  # a plain value replaces an experiment's grid
            del grid[override.key_or_group]
    return grid
