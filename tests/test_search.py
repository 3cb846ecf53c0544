"""The search sweeper's logic, without training: the space, the halving plan and its
promotions, the study's storage and name, the checks on bad input, and the search loop
driven by a fake launcher (rungs as batches, resume after an interruption, samplers).

One test runs the real CLI on bad input: one line naming the key, exit 2, no MLflow run.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from aesweep.errors import ConfigError
from aesweep.search.driver import RUNS_ATTR, Search
from aesweep.search.halving import (
    Bracket,
    bracket_shapes,
    promote,
    rung_epochs,
    schedule,
    survivors,
)
from aesweep.search.settings import Settings, read_settings
from aesweep.search.space import grid_values, parse_repeat, parse_space
from aesweep.search.study import STORAGE_ENV, StudyStorage, open_study, study_storage
from aesweep.task import JobOutcome
from hydra_plugins.aesweep_plugins.search import SearchSweeperConf

from helpers import describe, run_cli, run_statuses

BOTTLENECK = "architecture.bottleneck"


# ------------------------------------------------------------------------------ the space
@pytest.mark.parametrize(("text", "expected"), [
    ("choice(8,16,32)", CategoricalDistribution([8, 16, 32])),
    ("8,16,32", CategoricalDistribution([8, 16, 32])),
    ("choice(adam,sgd)", CategoricalDistribution(["adam", "sgd"])),
    ("range(4,257,4)", IntDistribution(4, 256, step=4)),
    ("range(0.5,2.0,0.5)", FloatDistribution(0.5, 1.5, step=0.5)),
    ("interval(1e-4,1e-2)", FloatDistribution(1e-4, 1e-2)),
    ("int(interval(4,256))", IntDistribution(4, 256)),
    ("tag(log, interval(1e-4,1e-2))", FloatDistribution(1e-4, 1e-2, log=True)),
    ("tag(log, int(interval(8,256)))", IntDistribution(8, 256, log=True)),
    ("tag(log, range(1,9))", IntDistribution(1, 8, log=True)),
])
def test_each_form_of_the_grammar_becomes_an_optuna_distribution(text, expected) -> None:
    space = parse_space({"x.y": text}, [])
    assert space.distributions == {"x.y": expected}
    assert space.config_keys == {"x.y": "x.y"} and space.fixed == []


def test_plain_values_are_fixed_and_the_command_line_wins() -> None:
    space = parse_space({BOTTLENECK: "8,16", "optimizer.learning_rate": "0.01"},
                        ["seed=3", f"{BOTTLENECK}=choice(4,5)", "+experiment=quickstart",
                         "+foo@bar=1,2"])
    assert space.distributions == {BOTTLENECK: CategoricalDistribution([4, 5]),
                                   "+foo@bar": CategoricalDistribution([1, 2])}
    assert space.fixed == ["optimizer.learning_rate=0.01", "seed=3", "+experiment=quickstart"]
    assert space.key_of("foo") == "+foo@bar" and space.origins[BOTTLENECK] == BOTTLENECK


@pytest.mark.parametrize(("params", "key", "words"), [
    ({}, "hydra.sweeper.params", "empty"),
    ({"seed": "3"}, "hydra.sweeper.params", "empty"),
    ({BOTTLENECK: "choice("}, f"hydra.sweeper.params.{BOTTLENECK}", "cannot parse"),
    ({BOTTLENECK: "tag(foo, interval(1,2))"}, f"hydra.sweeper.params.{BOTTLENECK}",
     "unknown tag"),
    ({BOTTLENECK: "tag(log, choice(1,2))"}, f"hydra.sweeper.params.{BOTTLENECK}", "log"),
    ({BOTTLENECK: "tag(log, interval(0,2))"}, f"hydra.sweeper.params.{BOTTLENECK}", "low > 0"),
    ({BOTTLENECK: "interval(5,1)"}, f"hydra.sweeper.params.{BOTTLENECK}", "low < high"),
    ({BOTTLENECK: "range(5,1)"}, f"hydra.sweeper.params.{BOTTLENECK}", "empty"),
])
def test_a_bad_space_names_its_key_and_the_allowed_forms(params, key, words) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_space(params, [])
    assert caught.value.key == key and words in str(caught.value)


def test_grid_needs_a_finite_space() -> None:
    finite = parse_space({"a": "choice(x,y)", "b": "range(1,4)", "c": "int(interval(1,3))",
                          "d": "range(0.5,1.5,0.5)"}, [])
    assert grid_values(finite) == {"a": ["x", "y"], "b": [1, 2, 3], "c": [1, 2, 3],
                                   "d": [0.5, 1.0]}
    with pytest.raises(ConfigError, match=re.escape("hydra.sweeper.params.lr: sampler=grid needs")):
        grid_values(parse_space({"lr": "interval(0.1,1)"}, []))


def test_repeats_are_every_combination_of_their_values() -> None:
    assert parse_repeat(None) == [[]]
    assert parse_repeat({"seed": "0,1", "split.random_state": "7"}) == [
        ["seed=0", "split.random_state=7"], ["seed=1", "split.random_state=7"]]
    assert parse_repeat({"seed": "range(2)"}) == [["seed=0"], ["seed=1"]]
    with pytest.raises(ConfigError, match=re.escape("hydra.sweeper.repeat.seed")):
        parse_repeat({"seed": "interval(0,1)"})


# ------------------------------------------------------------------------------ halving
def test_rungs_grow_by_eta_and_end_at_max_resource() -> None:
    assert rung_epochs(5, 45, 3) == [5, 15, 45]
    assert rung_epochs(1, 10, 3) == [1, 3, 10]
    assert rung_epochs(1, 4, 2) == [1, 2, 4]
    assert rung_epochs(1, 3, 3) == [1, 3]
    assert rung_epochs(5, 40, 3) == [5, 40]
    for args, key in [((0, 4, 2), "min_resource"), ((4, 7, 2), "max_resource"),
                      ((1, 4, 1), "reduction_factor")]:
        with pytest.raises(ConfigError, match=re.escape(f"hydra.sweeper.fidelity.{key}")):
            rung_epochs(*args)


def test_brackets_follow_hyperband_and_the_schedule_cycles_them() -> None:
    assert bracket_shapes(3, 3, 1) == [Bracket(9, 0)]
    assert bracket_shapes(3, 3, 3) == [Bracket(9, 0), Bracket(5, 1), Bracket(3, 2)]
    with pytest.raises(ConfigError, match=re.escape("hydra.sweeper.fidelity.brackets")):
        bracket_shapes(3, 3, 4)
    assert schedule(20, [Bracket(9, 0)]) == [Bracket(9, 0), Bracket(9, 0), Bracket(2, 0)]
    assert schedule(12, [Bracket(9, 0), Bracket(5, 1)]) == [Bracket(9, 0), Bracket(3, 1)]
    assert schedule(0, [Bracket(9, 0)]) == []


def test_promotion_keeps_the_best_third_at_least_one_in_either_direction() -> None:
    assert [survivors(n, 3) for n in (0, 1, 2, 3, 8, 9)] == [0, 1, 1, 1, 2, 3]
    scores = {0: 0.5, 1: 0.9, 2: 0.7, 3: 0.1, 4: 0.7, 5: math.nan}
    assert promote(scores, 3, maximize=True) == ([1, 2], [4, 0, 3, 5])  # tie: lower number
    assert promote(scores, 3, maximize=False) == ([3, 0], [2, 4, 1, 5])
    assert promote({7: 1.0}, 3, maximize=True) == ([7], [])


# ------------------------------------------------------------------------------ storage
def test_the_study_lives_beside_the_mlflow_store_never_in_it(tmp_path: Path) -> None:
    assert study_storage(f"sqlite:///{tmp_path}/mlflow.db", None, {}) == StudyStorage(
        f"sqlite:///{tmp_path}/studies.db")
    postgres = "postgresql+psycopg2://u:pw@db/mlflow"
    assert study_storage(postgres, None, {}) == StudyStorage(postgres, "optuna")
    assert "pw" not in str(study_storage(postgres, None, {}))
    with pytest.raises(ConfigError, match=re.escape("hydra.sweeper.storage: is needed with")):
        study_storage("http://127.0.0.1:5001", None, {})
    explicit = f"sqlite:///{tmp_path}/other.db"
    assert study_storage("https://host", None, {STORAGE_ENV: explicit}).url == explicit
    assert study_storage("https://host", explicit, {STORAGE_ENV: "x"}).url == explicit
    with pytest.raises(ConfigError, match="alembic_version"):
        study_storage(f"sqlite:///{tmp_path}/mlflow.db", f"sqlite:///{tmp_path}/mlflow.db", {})


# ------------------------------------------------------------------------------ settings
def config(tmp_path: Path, task: str = "classification", **sweeper: Any) -> DictConfig:
    """The part of a composed config the search reads, as Hydra would compose it."""
    node = OmegaConf.merge(OmegaConf.structured(SearchSweeperConf), sweeper)
    return OmegaConf.create({"hydra": {"sweeper": node},
                             "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"},
                             "evaluation": {"metric": None}, "dataset": {"task": task},
                             "sweep": {"skip_finished": True}})


SPACE = {BOTTLENECK: "choice(2,4,8,16,32,64,128,256,512)"}
HALVING = {"min_resource": 1, "max_resource": 9}


def settings(tmp_path: Path, arguments: tuple[str, ...] = (), **sweeper: Any) -> Settings:
    return read_settings(config(tmp_path, **sweeper), list(arguments))


def test_settings_read_the_sweeper_node_and_the_command_line(tmp_path: Path) -> None:
    s = settings(tmp_path, ("seed=1", "dataset.n_samples=300"), params=SPACE,
                 repeat={"split.random_state": "0,1"}, fidelity=HALVING,
                 objectives=["validation", "minimize architecture.bottleneck"])
    assert s.space.fixed == ["seed=1", "dataset.n_samples=300"]
    assert s.fidelity is not None and s.fidelity.epochs == [1, 3, 9]
    assert s.directions == ["maximize", "minimize"]
    assert s.storage.url == f"sqlite:///{tmp_path}/studies.db"
    assert s.repeats == [["split.random_state=0"], ["split.random_state=1"]]
    regression = read_settings(config(tmp_path, task="regression", params=SPACE), [])
    assert regression.directions == ["minimize"]  # rmse


def test_the_study_name_follows_the_command_but_not_n_trials(tmp_path: Path) -> None:
    base = settings(tmp_path, ("seed=1",), params=SPACE).study_name
    assert base.startswith("aesweep-")
    assert settings(tmp_path, ("seed=1",), params=SPACE, n_trials=50).study_name == base
    assert settings(tmp_path, ("seed=1", "hydra.sweeper.n_trials=5", "hydra/launcher=joblib"),
                    params=SPACE).study_name == base
    for changed in [settings(tmp_path, ("seed=2",), params=SPACE),
                    settings(tmp_path, ("seed=1",), params={BOTTLENECK: "2,4"}),
                    settings(tmp_path, ("seed=1",), params=SPACE, sampler="random"),
                    settings(tmp_path, ("seed=1",), params=SPACE, fidelity=HALVING)]:
        assert changed.study_name != base
    assert settings(tmp_path, params=SPACE, study_name="mine").study_name == "mine"


@pytest.mark.parametrize(("sweeper", "key"), [
    ({"n_trials": 0}, "hydra.sweeper.n_trials"),
    ({"max_batch_size": 0}, "hydra.sweeper.max_batch_size"),
    ({"sampler": "cmaes"}, "hydra.sweeper.sampler"),
    ({"sampler": "grid", "params": {"optimizer.learning_rate": "interval(0.1, 1)"}},
     "hydra.sweeper.params.optimizer.learning_rate"),
    ({"fidelity": {"key": "seed", **HALVING}}, "hydra.sweeper.fidelity.key"),
    ({"fidelity": {"min_resource": 3}}, "hydra.sweeper.fidelity.max_resource"),
    ({"fidelity": {"min_resource": 3, "max_resource": 3}}, "hydra.sweeper.fidelity.max_resource"),
    ({"fidelity": HALVING, "params": {"trainer.epochs": "1,2"}},
     "hydra.sweeper.params.trainer.epochs"),
    ({"objectives": []}, "hydra.sweeper.objectives"),
    ({"objectives": ["best"]}, "hydra.sweeper.objectives"),
    ({"objectives": ["minimize architecture.dropout"]}, "hydra.sweeper.objectives"),
    ({"objectives": ["validation", "validation"]}, "hydra.sweeper.objectives"),
    ({"repeat": {BOTTLENECK: "1,2"}}, f"hydra.sweeper.repeat.{BOTTLENECK}"),
])
def test_bad_settings_name_their_key(tmp_path: Path, sweeper: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, **{"params": SPACE, **sweeper})
    assert caught.value.key == key, caught.value


# ------------------------------------------------------------------------------ the loop
class FakeLauncher:
    """Jobs whose validation accuracy peaks at bottleneck 16 and grows with epochs; a job
    of a bottleneck in ``failing`` fails; ``interrupt`` raises at that launch (Ctrl-C)."""

    def __init__(self, failing: tuple[int, ...] = (), interrupt: int | None = None) -> None:
        self.batches: list[list[list[str]]] = []
        self.failing, self.interrupt = failing, interrupt

    def __call__(self, jobs: list[list[str]]) -> list[JobOutcome | None]:
        self.batches.append(jobs)
        if len(self.batches) == self.interrupt:
            raise KeyboardInterrupt
        return [self.outcome(dict(line.split("=", 1) for line in job)) for job in jobs]

    def outcome(self, job: dict[str, str]) -> JobOutcome | None:
        bottleneck, epochs = int(job[BOTTLENECK]), int(job.get("trainer.epochs", 10))
        if bottleneck in self.failing:
            return None
        seed = int(job.get("seed", 0))
        score = 1 - abs(math.log2(bottleneck) - 4) / 10 + epochs / 1000 + seed / 10_000
        run_id = f"b{bottleneck}-e{epochs}-s{seed}"
        return JobOutcome(run_id, "accuracy", {"val_encoded_accuracy": score,
                                               "recon_mse_val": 1 / epochs})

    def epochs(self, batch: int) -> set[str]:
        return {dict(line.split("=", 1) for line in job)["trainer.epochs"]
                for job in self.batches[batch]}


def search(s: Settings, launcher: FakeLauncher, sweep: str = "sweep-1",
           pruned: dict[str, str] | None = None) -> optuna.Study:
    population = s.fidelity.shapes[0].size if s.fidelity else s.round_size
    study = open_study(s.storage, s.study_name, s.directions, s.sampler, s.seed, population)
    Search(s, study, launcher, sweep_run_id=sweep, sweep_ended=lambda run: run != sweep,
           tag_pruned=lambda runs, rung: (pruned if pruned is not None else {}).update(
               dict.fromkeys(runs, str(rung)))).run()
    return study


def states(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def halving(tmp_path: Path, **sweeper: Any) -> Settings:
    return settings(tmp_path, ("dataset.n_samples=300",), **{
        "params": SPACE, "sampler": "grid", "n_trials": 9, "fidelity": HALVING,
        "repeat": {"seed": "0,1"}, **sweeper})


def test_rungs_run_as_batches_and_the_best_third_goes_on(tmp_path: Path) -> None:
    launcher, pruned = FakeLauncher(), {}
    study = search(halving(tmp_path), launcher, pruned=pruned)
    assert [len(b) for b in launcher.batches] == [18, 6, 2]  # 9, 3, 1 configurations x 2 seeds
    assert [launcher.epochs(i) for i in range(3)] == [{"1"}, {"3"}, {"9"}]
    assert states(study) == {"COMPLETE": 1, "PRUNED": 8}
    best = study.best_trial
    assert best.params == {BOTTLENECK: 16} and best.intermediate_values.keys() == {1, 3, 9}
    assert best.user_attrs[RUNS_ATTR]["2"] == ["b16-e9-s0", "b16-e9-s1"]
    promoted = {dict(line.split("=", 1) for line in job)[BOTTLENECK] for job in launcher.batches[1]}
    assert promoted == {"8", "16", "32"}
    assert pruned["b2-e1-s0"] == "0" and pruned["b8-e3-s1"] == "1" and "b16-e9-s0" not in pruned
    job = launcher.batches[2][1]
    assert job[0] == "dataset.n_samples=300"
    assert job[1:] == [f"{BOTTLENECK}=16", "trainer.epochs=9", "seed=1",
                       f"sweep.trial={best.number}", "sweep.rung=2", "sweep.epochs=[1,3,9]",
                       f"sweep.swept_keys=['{BOTTLENECK}','trainer.epochs','seed']"]


def test_promotion_follows_the_first_objective_s_direction(tmp_path: Path) -> None:
    launcher = FakeLauncher()
    study = search(halving(tmp_path, objectives=["minimize architecture.bottleneck",
                                                 "validation"]), launcher)
    assert {tuple(t.params.values()) for t in study.best_trials} == {(2,)}


def test_an_interrupted_search_resumes_at_the_rung_it_reached(tmp_path: Path) -> None:
    s = halving(tmp_path)
    with pytest.raises(KeyboardInterrupt):  # during rung 1: 3 trials left RUNNING
        search(s, FakeLauncher(interrupt=2))
    launcher = FakeLauncher()
    study = search(s, launcher, sweep="sweep-2")
    # The 6 pruned trials' jobs are relaunched (reused by skip_finished), then rungs 1 and 2.
    assert [len(b) for b in launcher.batches] == [12, 6, 2]
    assert [launcher.epochs(i) for i in range(3)] == [{"1"}, {"3"}, {"9"}]
    assert states(study) == {"COMPLETE": 1, "PRUNED": 8, "FAIL": 3}
    best = study.best_trial
    assert best.params == {BOTTLENECK: 16} and best.intermediate_values.keys() == {1, 3, 9}
    # Its runs are tagged with the number of the trial that first ran the configuration.
    first = next(t for t in study.trials if t.state == TrialState.FAIL and t.params == best.params)
    assert best.number != first.number
    assert f"sweep.trial={first.number}" in launcher.batches[2][0]


def test_a_finished_study_runs_nothing_new(tmp_path: Path) -> None:
    s = halving(tmp_path)
    search(s, FakeLauncher())
    launcher = FakeLauncher()
    study = search(s, launcher, sweep="sweep-2")
    assert [len(b) for b in launcher.batches] == [18]  # every trial's last jobs, reused
    assert states(study) == {"COMPLETE": 1, "PRUNED": 8}
    more = search(halving(tmp_path, n_trials=12), FakeLauncher(), sweep="sweep-3")
    assert states(more)["COMPLETE"] + states(more)["PRUNED"] == 9  # grid of 9: nothing left


def test_hyperband_brackets_start_at_different_rungs(tmp_path: Path) -> None:
    launcher = FakeLauncher()
    s = halving(tmp_path, params={BOTTLENECK: "range(2,200)"}, sampler="random", n_trials=14,
                fidelity={**HALVING, "brackets": 2}, repeat={})
    study = search(s, launcher)
    # 9 configurations from 1 epoch (9, 3, 1), then 5 from 3 epochs (5, 1).
    assert [len(b) for b in launcher.batches] == [9, 3, 1, 5, 1]
    assert [launcher.epochs(i) for i in range(5)] == [{"1"}, {"3"}, {"9"}, {"3"}, {"9"}]
    assert {k: v for k, v in states(study).items() if k != "FAIL"} == {"COMPLETE": 2,
                                                                      "PRUNED": 12}


def test_a_failed_job_fails_its_trial_and_the_rest_go_on(tmp_path: Path) -> None:
    study = search(halving(tmp_path), FakeLauncher(failing=(16,)))
    assert states(study) == {"COMPLETE": 1, "PRUNED": 7, "FAIL": 1}
    assert study.best_trial.params in ({BOTTLENECK: 8}, {BOTTLENECK: 32})


@pytest.mark.parametrize("sampler", ["tpe", "random", "grid"])
def test_samplers_search_without_halving_in_rounds(tmp_path: Path, sampler: str) -> None:
    launcher = FakeLauncher()
    s = settings(tmp_path, params={BOTTLENECK: "choice(2,4,8,16,32)"}, sampler=sampler,
                 n_trials=4, max_batch_size=2)
    study = search(s, launcher)
    assert [len(b) for b in launcher.batches] == [2, 2]  # rounds of max_batch_size jobs
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 4 and len({t.params[BOTTLENECK] for t in done}) == 4  # no duplicate
    assert all("trainer.epochs=" not in " ".join(job) for job in launcher.batches[0])


def test_a_small_space_is_searched_once_whatever_n_trials(tmp_path: Path) -> None:
    study = search(settings(tmp_path, params={BOTTLENECK: "2,16,64"}, sampler="random",
                            n_trials=10), FakeLauncher())
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.params[BOTTLENECK] for t in done) == [2, 16, 64]


def test_two_objectives_give_a_pareto_front(tmp_path: Path) -> None:
    s = settings(tmp_path, params=SPACE, sampler="nsga2", n_trials=9,
                 objectives=["validation", "minimize architecture.bottleneck"])
    study = search(s, FakeLauncher())
    front = sorted(t.params[BOTTLENECK] for t in study.best_trials)
    done = sorted(t.params[BOTTLENECK] for t in study.get_trials(states=(TrialState.COMPLETE,)))
    assert front == [b for b in done if b <= 16]  # smaller is cheaper, up to 16 better


# ------------------------------------------------------------------------------ the CLI
@pytest.mark.parametrize(("overrides", "key"), [
    (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials"),
    (["+hydra.sweeper.params.seed='choice('"], "hydra.sweeper.params.seed"),
])
def test_bad_input_stops_the_cli_with_one_line_and_no_run(cli_root: Path, overrides: list[str],
                                                          key: str) -> None:
    result = run_cli(["-m", "hydra/sweeper=search", f"{BOTTLENECK}=choice(2,3)", *overrides,
                      f"paths.root={cli_root / 'out'}"], cwd=cli_root)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, describe(result)
    assert len(lines) == 1 and lines[0].startswith(f"aesweep: error: {key}: "), describe(result)
    assert run_statuses(cli_root / "out" / "mlflow.db") == []
