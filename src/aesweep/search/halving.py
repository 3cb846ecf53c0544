"""Synchronous successive halving over ``trainer.epochs``, and Hyperband's brackets.

A bracket starts n configurations at a rung (an epoch count), runs all of them as one batch
through the launcher, keeps the best ⌊n/η⌋ (at least one) and runs those at the next rung,
η times as many epochs, until the top rung. Each promotion costs only the extra epochs: a
job resumes from the checkpoint its configuration saved at the rung before.

Why the promotions are decided here and not by Optuna's SuccessiveHalvingPruner or
HyperbandPruner: those are *asynchronous* (ASHA). A trial that reports at a rung is ranked
against the trials that reported there before it, so the first trial to reach a rung is
compared with nobody and promoted. That suits workers that report one by one; here a rung's
configurations run together and finish together, and a fair promotion compares all of
them. So Optuna samples the configurations and stores the study (every rung's value as an
intermediate value, PRUNED or COMPLETE at the end), and this module decides who goes on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from aesweep.errors import ConfigError

FIDELITY_KEY = "hydra.sweeper.fidelity"


def rung_epochs(min_resource: int, max_resource: int, eta: int) -> list[int]:
    """The epoch count of each rung: min·η^k while it is at most max, the top one raised to
    max (so the best configuration trains what was asked): 5→45 with η=3 gives 5, 15, 45;
    1→10 gives 1, 3, 10."""
    key = f"{FIDELITY_KEY}.{{}}"
    if eta < 2:
        raise ConfigError(key.format("reduction_factor"), f"is {eta}; needs 2 or more (the "
                          "fraction of configurations kept at each rung is 1/η)")
    if min_resource < 1:
        raise ConfigError(key.format("min_resource"), f"is {min_resource}; needs 1 or more")
    epochs = [min_resource]
    while epochs[-1] * eta <= max_resource:
        epochs.append(epochs[-1] * eta)
    if len(epochs) < 2:
        raise ConfigError(key.format("max_resource"), f"is {max_resource}; needs at least "
                          f"min_resource x reduction_factor ({min_resource * eta}) for two "
                          "rungs, or fidelity: null for no halving")
    return [*epochs[:-1], max_resource]


@dataclass(frozen=True)
class Bracket:
    """``size`` configurations that start at rung ``first_rung`` and are halved from there."""

    size: int
    first_rung: int


def bracket_shapes(n_rungs: int, eta: int, count: int) -> list[Bracket]:
    """Hyperband's ``count`` most exploratory brackets, the most aggressive first.

    Bracket s (s halvings) starts ⌈(s_max+1)/(s+1)·η^s⌉ configurations at rung s_max - s,
    so every bracket spends about the same epochs. ``count=1`` is plain successive
    halving: η^(rungs-1) configurations from the lowest rung, one of them reaching the top.
    """
    s_max = n_rungs - 1
    if not 1 <= count <= n_rungs:
        raise ConfigError(f"{FIDELITY_KEY}.brackets", f"is {count}; needs 1 (successive "
                          f"halving) to {n_rungs} (one per rung of {n_rungs})")
    return [Bracket(math.ceil((s_max + 1) / (s + 1) * eta ** s), s_max - s)
            for s in range(s_max, s_max - count, -1)]


def schedule(n_configs: int, shapes: list[Bracket]) -> list[Bracket]:
    """Brackets that start ``n_configs`` configurations, cycling through ``shapes``; the
    last one is cut short. They run one after another, so the sampler learns from each."""
    plan: list[Bracket] = []
    while n_configs > 0:
        shape = shapes[len(plan) % len(shapes)]
        plan.append(Bracket(min(shape.size, n_configs), shape.first_rung))
        n_configs -= plan[-1].size
    return plan


def survivors(n: int, eta: int) -> int:
    """How many of ``n`` configurations go on to the next rung: ⌊n/η⌋, at least one."""
    return max(1, n // eta) if n else 0


def promote(scores: Mapping[int, float], eta: int,
            maximize: bool) -> tuple[list[int], list[int]]:
    """Split trials (number → the rung's score) into promoted and pruned, best first.

    Ties go to the lower trial number, so a re-run promotes the same trials; a NaN score
    ranks last.
    """
    def rank(number: int) -> tuple[bool, float, int]:
        score = scores[number]
        return math.isnan(score), -score if maximize else score, number

    ranked = sorted(scores, key=rank)
    keep = survivors(len(ranked), eta)
    return ranked[:keep], ranked[keep:]
