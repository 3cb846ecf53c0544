"""A search space written in Hydra's override grammar, as Optuna distributions.

The same grammar as a grid (``8,16,32``, ``choice(...)``, ``range(...)``) plus intervals, so
a grid becomes a search by switching the sweeper, and a search space reads like any other
override. Parsed with Hydra's own parser, the way hydra-optuna-sweeper does:

==================================  ===============================================
``choice(8,16,32)`` or ``8,16,32``  CategoricalDistribution
``range(4,257,4)``                  IntDistribution(4, 256, step=4) (floats: Float)
``interval(1e-4,1e-2)``             FloatDistribution(1e-4, 1e-2)
``int(interval(4,256))``            IntDistribution(4, 256)
``tag(log, interval(...))``         the same with ``log=True``
a plain value (``5``, ``adam``)     fixed: passed to every job as it is
==================================  ===============================================
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from aesweep.errors import ConfigError

PARAMS_KEY, REPEAT_KEY = "hydra.sweeper.params", "hydra.sweeper.repeat"
FORMS = ("choice(a,b,...) or a,b,...; range(start,stop[,step]); interval(low,high); "
         "int(interval(low,high)); tag(log, interval(...)); or a plain value")
LOG_TAG = "log"


@dataclass
class SearchSpace:
    """What a search varies (``distributions``, by override key) and what it passes to
    every job unchanged (``fixed``, override lines as typed)."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)
    # Config key (no ``+``/``@package``) of each searched override key: what run names and
    # objectives (``minimize architecture.bottleneck``) refer to.
    config_keys: dict[str, str] = field(default_factory=dict)
    # Where each searched key was written, for error messages.
    origins: dict[str, str] = field(default_factory=dict)

    def key_of(self, config_key: str) -> str | None:
        """The override key that searches ``config_key``, if any."""
        return next((k for k, c in self.config_keys.items() if c == config_key), None)


def _parse(line: str, where: str) -> Override:
    try:
        return OverridesParser.create().parse_override(line)
    except HydraException as error:
        raise ConfigError(where, f"cannot parse {line.partition('=')[2]!r} "
                                 f"({str(error).splitlines()[0]}); allowed: {FORMS}") from None


def _lines(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    return [(f"{key}={value}", f"{PARAMS_KEY}.{key}") for key, value in (params or {}).items()]


def distribution(override: Override, where: str) -> BaseDistribution:
    """The Optuna distribution of one sweep override; ConfigError naming ``where``."""
    value = override.value()
    tags = set(getattr(value, "tags", ()) or ())
    if tags - {LOG_TAG}:
        raise ConfigError(where, f"unknown tag {sorted(tags - {LOG_TAG})[0]!r}: the only "
                                 f"tag a search reads is tag({LOG_TAG}, ...) on an interval")
    log = LOG_TAG in tags
    if isinstance(value, IntervalSweep):
        return _interval(value, log, where)
    if isinstance(value, RangeSweep) and not value.shuffle:
        return _range(override, value, log, where)
    if log:
        raise ConfigError(where, "tag(log, ...) applies to interval(...) and range(a,b,1)")
    if isinstance(value, ChoiceSweep | RangeSweep):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        if not choices:
            raise ConfigError(where, "is empty: give at least one value")
        return CategoricalDistribution(choices)
    raise ConfigError(where, f"unsupported sweep {override.input_line!r}; allowed: {FORMS}")


def _interval(value: IntervalSweep, log: bool, where: str) -> BaseDistribution:
    low, high = value.start, value.end
    if low is None or high is None or not low < high:
        raise ConfigError(where, f"interval({low}, {high}) needs low < high")
    if log and low <= 0:
        raise ConfigError(where, f"tag(log, interval({low}, {high})) needs low > 0")
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


def _range(override: Override, value: RangeSweep, log: bool, where: str) -> BaseDistribution:
    values = list(override.sweep_iterator())
    if not values:
        raise ConfigError(where, f"{override.input_line.partition('=')[2]} is empty")
    step = abs(value.step or 1)
    if log and step != 1:
        raise ConfigError(where, "tag(log, range(...)) needs step 1 (Optuna's log scale "
                                 "has no step); use tag(log, int(interval(low, high)))")
    if all(isinstance(v, int) for v in values):
        return IntDistribution(min(values), max(values), log=log, step=int(step))
    return FloatDistribution(float(min(values)), float(max(values)), step=float(step))


def parse_space(params: Mapping[str, Any] | None, arguments: Sequence[str]) -> SearchSpace:
    """The space of ``hydra.sweeper.params`` and the command line's overrides (which win,
    as in Hydra's sweepers): sweep overrides are searched, plain ones fixed."""
    space = SearchSpace()
    by_key: dict[str, tuple[Override, str]] = {}
    for line, where in [*_lines(params), *((a, a.partition("=")[0]) for a in arguments)]:
        override = _parse(line, where)
        by_key[override.get_key_element()] = (override, where)  # the later one wins
    for key, (override, where) in by_key.items():
        if override.is_sweep_override():
            space.distributions[key] = distribution(override, where)
            space.config_keys[key] = override.key_or_group
            space.origins[key] = where
        else:
            space.fixed.append(override.input_line)
    if not space.distributions:
        raise ConfigError(PARAMS_KEY, f"the search space is empty: give each searched key "
                                      f"one of {FORMS}, e.g. architecture.bottleneck: "
                                      "tag(log, int(interval(8, 256)))")
    return space


def parse_repeat(repeat: Mapping[str, Any] | None) -> list[list[str]]:
    """Every combination of the ``repeat`` values as override lines: each configuration
    runs once per combination and is judged on the mean (``[[]]``: no repeats)."""
    options: list[list[str]] = []
    for key, text in (repeat or {}).items():
        where = f"{REPEAT_KEY}.{key}"
        override = _parse(f"{key}={text}", where)
        if override.is_interval_sweep():
            raise ConfigError(where, "needs a finite list of values: a,b,c or range(...)")
        values = (list(override.sweep_string_iterator()) if override.is_sweep_override()
                  else [override.get_value_element_as_str()])
        options.append([f"{override.get_key_element()}={v}" for v in values])
    return [list(combination) for combination in itertools.product(*options)]


def grid_values(space: SearchSpace) -> dict[str, list[Any]]:
    """Every value of each searched key, for ``sampler=grid``: the space must be finite."""
    values: dict[str, list[Any]] = {}
    for key, dist in space.distributions.items():
        if isinstance(dist, CategoricalDistribution):
            values[key] = list(dist.choices)
        elif isinstance(dist, IntDistribution):
            values[key] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            count = round((dist.high - dist.low) / dist.step) + 1
            values[key] = [dist.low + i * dist.step for i in range(count)]
        else:
            raise ConfigError(space.origins[key], "sampler=grid needs a finite space, and "
                              "a float interval has infinitely many values: use choice(...), "
                              "range(...) or int(interval(...)), or another "
                              "hydra.sweeper.sampler (tpe, random)")
    return values


def as_override_value(value: Any) -> str:
    """A sampled value as override text (choices are kept in the grammar's own encoding)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
