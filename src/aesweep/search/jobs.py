"""Configurations and their jobs: a trial's job overrides, its values from the jobs'
outcomes, the points of a grid, and how a trial is shown in the log."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aesweep.errors import ConfigError
from aesweep.names import EPOCHS_PARAM
from aesweep.search.settings import OBJECTIVES_KEY, VALIDATION, Objective, Settings
from aesweep.search.space import SearchSpace, as_override_value, grid_values

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from aesweep.task import JobOutcome

Point = tuple[tuple[str, str], ...]  # a configuration, comparable across trials


def job_overrides(settings: Settings, number: int, params: dict[str, Any], rung: int,
                  repeat: Sequence[str]) -> list[str]:
    """One job of trial ``number`` at ``rung``: the command's fixed overrides, the trial's
    values, the rung's epochs, the repetition, and what tags and names its run (run names
    show the searched keys, the epochs and the repeated keys: ``bottleneck=16 epochs=9
    seed=1``). ``sweep.epochs`` lists every rung, where the job saves checkpoints on its
    way, for the promotions that resume from them."""
    s = settings
    lines = [*s.space.fixed, *(f"{k}={as_override_value(v)}" for k, v in params.items())]
    swept = list(s.space.config_keys.values())
    if s.fidelity:
        lines.append(f"{EPOCHS_PARAM}={s.fidelity.epochs[rung]}")
        swept.append(EPOCHS_PARAM)
    lines += repeat
    swept += s.repeat_keys
    lines.append(f"sweep.trial={number}")
    if s.fidelity:
        lines += [f"sweep.rung={rung}", f"sweep.epochs=[{','.join(map(str, s.fidelity.epochs))}]"]
    return [*lines, f"sweep.swept_keys=[{','.join(_quote(k) for k in swept)}]"]


def objective_value(outcome: JobOutcome, objective: Objective, params: dict[str, Any]) -> float:
    """One job's value of one objective; ConfigError when its jobs cannot provide it (known
    only once they ran: the metrics a job logs depend on its task and settings)."""
    if objective.param is not None:
        return float(params[objective.param])
    if objective.key == VALIDATION:
        if outcome.higher_is_better != (objective.direction == "maximize"):
            raise ConfigError(OBJECTIVES_KEY, f"the jobs' main metric {outcome.main_metric} "
                              f"does not {objective.direction}: do not search "
                              "evaluation.metric or the dataset's task")
        return outcome.validation
    if objective.key not in outcome.metrics:
        raise ConfigError(OBJECTIVES_KEY, f"the jobs log no metric {objective.key!r}; they "
                          f"log {', '.join(sorted(outcome.metrics))}")
    return float(outcome.metrics[objective.key])


def trial_values(settings: Settings, outcomes: Sequence[JobOutcome | None],
                 params: dict[str, Any]) -> list[float] | None:
    """A trial's value of each objective, the mean over its repetitions; None when a job
    failed or a value is NaN (Optuna would refuse it)."""
    if not outcomes or any(o is None for o in outcomes):
        return None
    values = [sum(objective_value(o, objective, params) for o in outcomes if o) / len(outcomes)
              for objective in settings.objectives]
    return None if any(math.isnan(v) for v in values) else values


def finite_size(space: SearchSpace) -> int | None:
    """How many configurations a space holds; None when a float interval makes it infinite."""
    try:
        return math.prod(len(v) for v in grid_values(space).values())
    except ConfigError:
        return None


def unvisited_grid(space: SearchSpace, seed: int, taken: set[Point]) -> list[dict[str, Any]]:
    """The grid's points that no live or finished trial holds, in a seeded random order
    (``sampler=grid`` enqueues them, so a resumed study goes on where it stopped)."""
    values = grid_values(space)
    points = [dict(zip(values, combo, strict=True))
              for combo in itertools.product(*values.values())]
    random.Random(seed).shuffle(points)
    return [p for p in points if point(p) not in taken]


def point(params: dict[str, Any]) -> Point:
    return tuple(sorted((k, repr(round(v, 12) if isinstance(v, float) else v))
                        for k, v in params.items()))


def show(params: dict[str, Any]) -> str:
    """``bottleneck=16,lr=0.001``: a trial's values, by their keys' last parts."""
    return ",".join(f"{k.rsplit('.', 1)[-1]}={as_override_value(v)}" for k, v in params.items())


def describe(trial: FrozenTrial) -> str:
    """``#7 bottleneck=23 (0.912)``: a trial, its values and its objectives' values."""
    return f"#{trial.number} {show(trial.params)} ({fmt(trial.values)})"


def fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.4g}" for v in values)


def _quote(value: str) -> str:
    """A string in Hydra's override grammar, quoted."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
