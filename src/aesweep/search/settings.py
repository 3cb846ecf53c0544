"""The search sweeper's settings (``hydra.sweeper.*``), checked all at once.

:func:`read_settings` runs before the sweep opens its MLflow parent run (from the
sweeper's own callback, see ``hydra_plugins.aesweep_plugins.search``) and again in the
sweeper's ``setup``, so bad input stops the command with one line naming its key before
any run or training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from aesweep.errors import ConfigError
from aesweep.names import EPOCHS_PARAM, MAIN_METRIC, sign
from aesweep.search.halving import FIDELITY_KEY, Bracket, bracket_shapes, rung_epochs
from aesweep.search.space import (
    PARAMS_KEY,
    REPEAT_KEY,
    SearchSpace,
    grid_values,
    parse_repeat,
    parse_space,
)
from aesweep.search.study import (
    SAMPLERS,
    StudyStorage,
    default_study_name,
    seed_from,
    study_storage,
)

SWEEPER = "hydra.sweeper"
OBJECTIVES_KEY = f"{SWEEPER}.objectives"
VALIDATION = "validation"  # the job's JobOutcome.validation, in its main metric's direction
DIRECTIONS = ("maximize", "minimize")
ROUND_TRIALS = 10  # configurations per round without fidelity and max_batch_size


@dataclass(frozen=True)
class Objective:
    """What a study optimizes: ``validation``, a metric the job logged, or a searched
    config key (``param`` is then its override key)."""

    key: str
    direction: str
    param: str | None = None

    def __str__(self) -> str:
        return self.key if self.key == VALIDATION else f"{self.direction} {self.key}"


@dataclass(frozen=True)
class Fidelity:
    """Successive halving over trainer.epochs: the rungs' epoch counts, η, bracket shapes."""

    epochs: list[int]
    eta: int
    shapes: list[Bracket]


@dataclass(frozen=True)
class Settings:
    space: SearchSpace
    repeats: list[list[str]]  # override lines of each repetition ([[]]: none)
    repeat_keys: list[str]
    sampler: str
    seed: int
    n_trials: int
    objectives: list[Objective]
    fidelity: Fidelity | None
    storage: StudyStorage
    study_name: str
    max_batch_size: int | None
    tracking_uri: str
    skip_finished: bool

    @property
    def directions(self) -> list[str]:
        return [objective.direction for objective in self.objectives]

    @property
    def round_size(self) -> int:
        """Configurations asked at once without fidelity: enough to fill a batch, few
        enough that a model-based sampler learns between rounds."""
        if self.max_batch_size:
            return max(1, self.max_batch_size // len(self.repeats))
        return ROUND_TRIALS


def validation_direction(cfg: DictConfig) -> str:
    """Maximize or minimize the main metric: ``evaluation.metric``, else the task's."""
    metric = OmegaConf.select(cfg, "evaluation.metric")
    if not metric:
        task = str(OmegaConf.select(cfg, "dataset.task", default="auto"))
        if task not in MAIN_METRIC:  # a CSV's task is decided from its target column
            from aesweep.data import load_dataset

            task = load_dataset(cfg.dataset).task
        metric = MAIN_METRIC[task]
    return DIRECTIONS[0] if sign(str(metric)) > 0 else DIRECTIONS[1]


def _objective(text: str, space: SearchSpace, cfg: DictConfig) -> Objective:
    words = str(text).split()
    if words == [VALIDATION]:
        return Objective(VALIDATION, validation_direction(cfg))
    if len(words) != 2 or words[0] not in DIRECTIONS:
        raise ConfigError(OBJECTIVES_KEY, f"{text!r} is not an objective; write "
                          f"'{VALIDATION}', 'maximize KEY' or 'minimize KEY' (KEY: a metric "
                          "the job logs, e.g. recon_mse_val, or a searched config key)")
    direction, key = words
    param = space.key_of(key)
    if param is None and "." in key:  # metric names have no dots; config keys do
        raise ConfigError(OBJECTIVES_KEY, f"{key!r} is not a searched key (searched: "
                          f"{', '.join(space.config_keys.values())}) nor a metric name")
    if param is not None and not _numeric(space, param):
        raise ConfigError(OBJECTIVES_KEY, f"{key!r} has non-numeric values: it cannot be "
                                          f"an objective")
    return Objective(key, direction, param)


def _numeric(space: SearchSpace, key: str) -> bool:
    dist = space.distributions[key]
    if isinstance(dist, IntDistribution | FloatDistribution):
        return True
    assert isinstance(dist, CategoricalDistribution)
    return all(isinstance(c, int | float) and not isinstance(c, bool) for c in dist.choices)


def _fidelity(node: Mapping[str, Any] | None, space: SearchSpace,
              repeat_keys: Sequence[str]) -> Fidelity | None:
    if not node or (node.get("min_resource") is None and node.get("max_resource") is None):
        return None  # no halving: each configuration trains the config's epochs once
    if node.get("key") != EPOCHS_PARAM:
        raise ConfigError(f"{FIDELITY_KEY}.key", f"is {node.get('key')!r}; only "
                          f"{EPOCHS_PARAM} can be a fidelity (a longer job resumes from a "
                          "shorter one's checkpoint); or fidelity: null for no halving")
    for key in (*space.config_keys.values(), *repeat_keys):
        if key == EPOCHS_PARAM:
            raise ConfigError(f"{PARAMS_KEY}.{EPOCHS_PARAM}", "is the fidelity: the rungs "
                              "set it; drop it from the search, or set fidelity: null")
    for key in ("min_resource", "max_resource"):
        if node.get(key) is None:
            raise ConfigError(f"{FIDELITY_KEY}.{key}", "is needed with the other: the fewest "
                              "and the most epochs a configuration trains")
    eta = int(node.get("reduction_factor") or 3)
    epochs = rung_epochs(int(node["min_resource"]), int(node["max_resource"]), eta)
    shapes = bracket_shapes(len(epochs), eta, int(node.get("brackets") or 1))
    return Fidelity(epochs, eta, shapes)


def _positive(node: Mapping[str, Any], key: str, what: str) -> None:
    value = node.get(key)
    if value is not None and value < 1:
        raise ConfigError(f"{SWEEPER}.{key}", f"is {value}; needs 1 or more ({what})")


def read_settings(cfg: DictConfig, arguments: Sequence[str]) -> Settings:
    """Every setting of ``cfg.hydra.sweeper`` and the search's command line, checked;
    ConfigError naming the first bad key."""
    node = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)
    assert isinstance(node, dict)
    _positive(node, "n_trials", "configurations in the study, counted across resumes")
    _positive(node, "max_batch_size", "jobs launched at once at most")
    sampler = str(node.get("sampler"))
    if sampler not in SAMPLERS:
        raise ConfigError(f"{SWEEPER}.sampler", f"is {sampler!r}; one of {', '.join(SAMPLERS)}")
    space = parse_space(node.get("params"), arguments)
    if sampler == "grid":
        grid_values(space)
    repeats = parse_repeat(node.get("repeat"))
    repeat_keys = [str(key) for key in node.get("repeat") or {}]
    for key in repeat_keys:
        if space.key_of(key) or key in space.distributions:
            raise ConfigError(f"{REPEAT_KEY}.{key}", "is also searched: repeat it or search it")
    texts = node.get("objectives") or []
    if not texts:
        raise ConfigError(OBJECTIVES_KEY, f"is empty; e.g. [{VALIDATION}]")
    objectives = [_objective(text, space, cfg) for text in texts]
    if len({o.key for o in objectives}) < len(objectives):
        raise ConfigError(OBJECTIVES_KEY, f"names a key twice: {texts}")
    fidelity = _fidelity(node.get("fidelity"), space, repeat_keys)
    tracking_uri = str(cfg.tracking.uri)
    name = node.get("study_name") or default_study_name({
        # What the jobs compute and how the search runs; not n_trials, so that raising it
        # extends the study, nor where things are stored or launched.
        "overrides": sorted(o for o in space.fixed
                            if not o.lstrip("+~").startswith(("hydra.", "hydra/", "sweep."))),
        "space": {k: distribution_to_json(d) for k, d in space.distributions.items()},
        "repeat": repeats, "sampler": sampler, "seed": node.get("seed"),
        "fidelity": fidelity and [fidelity.epochs, fidelity.eta, len(fidelity.shapes)],
        "objectives": [str(o) for o in objectives]})
    return Settings(space=space, repeats=repeats, repeat_keys=repeat_keys, sampler=sampler,
                    seed=node["seed"] if node.get("seed") is not None else seed_from(name),
                    n_trials=int(node.get("n_trials") or 1), objectives=objectives,
                    fidelity=fidelity,
                    storage=study_storage(tracking_uri, node.get("storage")),
                    study_name=name, max_batch_size=node.get("max_batch_size"),
                    tracking_uri=tracking_uri,
                    skip_finished=bool(OmegaConf.select(cfg, "sweep.skip_finished",
                                                        default=True)))
