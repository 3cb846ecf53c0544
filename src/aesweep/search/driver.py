"""The search loop: ask Optuna for configurations, run them rung by rung, tell the results.

It knows nothing of Hydra: it launches jobs through a callable (the sweeper passes its
launcher), so tests drive it with a fake one. Every job's result is a
:class:`~aesweep.task.JobOutcome`, or None when the job failed.

Resuming is re-running the command. Trials that are COMPLETE or PRUNED count toward
``n_trials`` and are not run again; their last jobs are relaunched once, which only reuses
their FINISHED runs (``sweep.skip_finished``), so the new sweep's table and report cover
the whole study. A RUNNING trial whose owner is gone (Ctrl-C, a crash) is
marked FAIL and run again with the same parameters from the rung it had reached, with the
trials of its bracket that were still alive, so they compete as they would have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from aesweep.search.halving import Bracket, promote, schedule
from aesweep.search.jobs import (
    Point,
    describe,
    finite_size,
    fmt,
    job_overrides,
    point,
    show,
    trial_values,
    unvisited_grid,
)
from aesweep.search.settings import Settings
from aesweep.search.study import OWNER_ATTR, abandoned, owner

if TYPE_CHECKING:
    from aesweep.task import JobOutcome

log = logging.getLogger(__name__)

# Trial user attrs: the bracket it runs in (its first trial's number), the rung it reached,
# its MLflow runs by rung, and, on a trial that re-runs an abandoned one, the number of the
# trial that first ran the configuration: its runs keep that number in their trial tag, so
# MLflow shows one trial per configuration across rungs and resumes.
GROUP_ATTR, RUNG_ATTR = "aesweep.group", "aesweep.rung"
RUNS_ATTR, RESUMES_ATTR = "aesweep.runs", "aesweep.resumes"
DUPLICATE_ATTR = "aesweep.duplicate"  # on a FAIL trial: the study already had its params
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_ASKS = 50  # asks per configuration before giving up on finding a new one


def tag_number(trial: Trial | FrozenTrial) -> int:
    """The trial number its runs are tagged with (see ``RESUMES_ATTR``)."""
    return int(trial.user_attrs.get(RESUMES_ATTR, trial.number))


Launch = Callable[[list[list[str]]], Sequence["JobOutcome | None"]]


@dataclass
class Search:
    settings: Settings
    study: optuna.Study
    launch: Launch
    sweep_run_id: str | None = None
    sweep_ended: Callable[[str], bool] = lambda run_id: False
    tag_pruned: Callable[[list[str], int], None] = lambda run_ids, rung: None
    _runs: dict[int, dict[str, list[str]]] = field(default_factory=dict, init=False)

    # ---------------------------------------------------------------------- the whole search
    def run(self) -> None:
        s, trials = self.settings, self.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state in DONE]
        running = [t for t in trials if t.state == TrialState.RUNNING]
        stale = [t for t in running if abandoned(t.user_attrs, self.sweep_ended)]
        busy = len(running) - len(stale)  # another live sweep's: it will finish them
        if done:
            self._replay(done)
        groups: dict[Any, list[FrozenTrial]] = {}
        for trial in stale:
            groups.setdefault(trial.user_attrs.get(GROUP_ATTR, trial.number), []).append(trial)
        taken = {point(t.params) for t in (*done, *running)}
        new = s.n_trials - len(done) - busy - len(stale)
        size = finite_size(s.space)
        if size is not None and new > size - len(taken):
            log.info("the space has %d configurations, %d of them taken: %d new, not %d",
                     size, len(taken), max(size - len(taken), 0), new)
            new = size - len(taken)
        log.info("study %s in %s: %d trials done, %d to resume, %d new (n_trials=%d)",
                 s.study_name, s.storage, len(done), len(stale), max(new, 0), s.n_trials)
        for group in groups.values():
            rung = min(t.user_attrs.get(RUNG_ATTR, 0) for t in group)
            self._bracket([self._resume(t, rung) for t in group], rung)
        plan = (schedule(new, s.fidelity.shapes) if s.fidelity else
                [Bracket(min(s.round_size, new - i), 0) for i in range(0, max(new, 0),
                                                                     s.round_size)])
        grid = unvisited_grid(s.space, s.seed, taken) if s.sampler == "grid" else None
        for bracket in plan:
            trials_asked = self._ask(bracket, grid, taken)
            if trials_asked:
                self._bracket(trials_asked, bracket.first_rung)
        self._log_best()

    # ---------------------------------------------------------------------- asking trials
    def _ask(self, bracket: Bracket, grid: list[dict[str, Any]] | None,
             taken: set[Point]) -> list[Trial]:
        """``bracket.size`` new configurations. A sampler may propose one the study already
        has (a small finite space): that trial is told FAIL (user attr
        ``aesweep.duplicate``) and another asked, so no configuration runs twice."""
        trials: list[Trial] = []
        for _ in range(MAX_ASKS * bracket.size):
            if len(trials) == bracket.size:
                break
            if grid:
                self.study.enqueue_trial(grid.pop(0))
            trial = self.study.ask(self.settings.space.distributions)
            if point(trial.params) in taken:
                trial.set_user_attr(DUPLICATE_ATTR, True)
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            taken.add(point(trial.params))
            trial.set_user_attr(GROUP_ATTR, trials[0].number if trials else trial.number)
            trial.set_user_attr(RUNG_ATTR, bracket.first_rung)
            trials.append(self._start(trial))
        if len(trials) < bracket.size:
            log.warning("the sampler kept proposing configurations the study has: %d of %d "
                        "asked", len(trials), bracket.size)
        return trials

    def _start(self, trial: Trial) -> Trial:
        trial.set_user_attr(OWNER_ATTR, owner(self.sweep_run_id))
        return trial

    def _resume(self, old: FrozenTrial, rung: int) -> Trial:
        """Fail an abandoned trial and start its twin at ``rung``, with its parameters and
        its values at the rungs below (Optuna refuses a second value for a step)."""
        self.study.tell(old.number, state=TrialState.FAIL)
        keep = {k: v for k, v in old.user_attrs.items() if k != OWNER_ATTR}
        keep[RESUMES_ATTR] = tag_number(old)
        self.study.enqueue_trial(old.params, user_attrs=keep)
        trial = self._start(self.study.ask(self.settings.space.distributions))
        fidelity = self.settings.fidelity
        if fidelity and len(self.settings.objectives) == 1:
            for step, value in sorted(old.intermediate_values.items()):
                if step < fidelity.epochs[rung]:
                    trial.report(value, step)
        log.info("trial #%d (%s) was abandoned at rung %d: resumed as #%d", old.number,
                 show(old.params), rung, trial.number)
        return trial

    # ---------------------------------------------------------------------- running rungs
    def _bracket(self, trials: list[Trial], first_rung: int) -> None:
        """Run ``trials`` from ``first_rung``: all of a rung at once, the best 1/η go on."""
        s = self.settings
        rungs = len(s.fidelity.epochs) if s.fidelity else 1
        live = trials
        for rung in range(first_rung, rungs):
            results = self._run_rung(live, rung)
            scored = {n: values for n, values in results.items() if values is not None}
            by_number = {t.number: t for t in live}
            if rung == rungs - 1 or s.fidelity is None:
                for number, values in scored.items():
                    self.study.tell(number, values)
                self._log_rung(rung, scored, list(scored), "completed", by_number)
                return
            maximize = s.objectives[0].direction == "maximize"
            promoted, pruned = promote({n: v[0] for n, v in scored.items()}, s.fidelity.eta,
                                       maximize)
            for number in pruned:
                self.study.tell(number, state=TrialState.PRUNED)
                self.tag_pruned(self._runs[number][str(rung)], rung)
            for number in promoted:
                by_number[number].set_user_attr(RUNG_ATTR, rung + 1)
            self._log_rung(rung, scored, promoted, "promoted", by_number)
            live = [by_number[n] for n in promoted]
            if not live:
                return

    def _run_rung(self, trials: list[Trial], rung: int) -> dict[int, list[float] | None]:
        """Launch every trial's jobs at ``rung`` in one batch; each trial's objective values
        (means over its repeats), None for a trial that failed (then told FAIL)."""
        s, repeats = self.settings, len(self.settings.repeats)
        jobs = [job_overrides(s, tag_number(t), t.params, rung, repeat) for t in trials
                for repeat in s.repeats]
        outcomes = list(self.launch(jobs))
        results: dict[int, list[float] | None] = {}
        for i, trial in enumerate(trials):
            mine = outcomes[i * repeats:(i + 1) * repeats]
            runs = self._runs.setdefault(trial.number, dict(trial.user_attrs.get(RUNS_ATTR, {})))
            runs[str(rung)] = [o.run_id for o in mine if o is not None]
            trial.set_user_attr(RUNS_ATTR, runs)  # so the study leads to the MLflow runs
            values = results[trial.number] = trial_values(s, mine, trial.params)
            if values is None:
                log.warning("trial #%d (%s) failed at rung %d: a job failed or its value is "
                            "NaN", trial.number, show(trial.params), rung)
                self.study.tell(trial, state=TrialState.FAIL)
            elif s.fidelity and len(s.objectives) == 1:  # Optuna: one curve per trial
                trial.report(values[0], step=s.fidelity.epochs[rung])
        return results

    # ---------------------------------------------------------------------- replay and logs
    def _replay(self, done: list[FrozenTrial]) -> None:
        """Relaunch the last jobs of finished trials, so that this sweep's table and report
        cover the whole study: their FINISHED runs are reused (sweep.skip_finished), or with
        skip_finished=false run again from their own checkpoints (no epoch is retrained)."""
        s = self.settings
        last = len(s.fidelity.epochs) - 1 if s.fidelity else 0
        jobs = [job_overrides(s, tag_number(t), t.params, t.user_attrs.get(RUNG_ATTR, last),
                              repeat) for t in done for repeat in s.repeats]
        log.info("%d trials of this study are done: their %d last jobs are %s", len(done),
                 len(jobs), "reused (sweep.skip_finished)" if s.skip_finished else
                 "run again from their checkpoints (sweep.skip_finished=false)")
        self.launch(jobs)

    def _log_rung(self, rung: int, scored: dict[int, list[float]], chosen: list[int],
                  verb: str, trials: dict[int, Trial]) -> None:
        s = self.settings
        shown = ", ".join(f"#{n} {show(trials[n].params)} ({fmt(scored[n])})" for n in chosen)
        if s.fidelity is None:
            log.info("%d configurations %s: %s", len(chosen), verb, shown)
            return
        log.info("rung %d/%d: %d epoch(s), %d of %d configurations %s: %s", rung + 1,
                 len(s.fidelity.epochs), s.fidelity.epochs[rung], len(chosen), len(scored),
                 verb, shown)

    def _log_best(self) -> None:
        objectives = ", ".join(map(str, self.settings.objectives))
        if not self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            log.warning("no trial of study %s completed", self.settings.study_name)
        elif len(self.settings.objectives) == 1:
            log.info("best trial on %s: %s", objectives, describe(self.study.best_trial))
        else:
            front = self.study.best_trials
            log.info("Pareto front of %d trials on %s: %s", len(front), objectives,
                     "; ".join(map(describe, front)))
