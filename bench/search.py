"""The ``search`` section: what a search saves over the grid, and against Keras Tuner.

One task (``make_classification`` at the profile's size; controls PCA and untrained encoder
as always, ``evaluation.bootstrap_resamples=0``), three ways to find its best bottleneck
and epoch count, each a fresh process with its own ``paths.root`` (store, checkpoints,
control cache: nothing shared), one after another on this machine:

1. **grid**: ``aesweep -m architecture.bottleneck=B... trainer.epochs=3,9,27 seed=0,1,2``,
   aesweep's default sweeper (stages of ascending epochs; a longer job resumes from the
   shorter one's checkpoint). Its winner: the cell (bottleneck, epochs) with the best mean
   ``val_encoded_accuracy`` over the seeds, with its 95% t-interval over the seeds
   (``aesweep.stats.t_interval``).
2. **search**: ``aesweep -m hydra/sweeper=search architecture.bottleneck='tag(log,
   int(interval(LO, HI)))'`` with the seeds as ``hydra.sweeper.repeat.seed``, TPE with a
   fixed sampler seed, ``n_trials`` configurations halved over ``trainer.epochs`` (3, 9,
   27, η = 3). Its pick: the trial of the top rung with the best mean validation accuracy
   over the seeds (its runs are tagged ``aesweep.rung``).
3. **Keras Tuner**: ``kt_peer.py``, ``kt.Hyperband`` on the same rows, space, model and
   objective (see that file).

Trained epochs of an aesweep sweep: over its child runs (``mlflow.parentRunId`` = the
sweep's parent), ``trainer.epochs`` minus the run's ``resumed_from_epochs`` tag (0 when
absent). Goals: the search's pick has a mean validation accuracy at least the lower end of
the grid winner's interval (higher is as good) with at most 1/3 of the grid's trained
epochs; and no more trained epochs than Keras Tuner's Hyperband for such a pick. Wall
times are kept, with the cores other processes kept busy meanwhile (``others_cores``).
Every pick carries its test accuracy (each tool's own mean over the seeds, for reference:
no tool chose by it) and, for aesweep, the controls' validation and test accuracies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from launchers import read_runs, run_timed, say, wait_for_quiet
from processes import AESWEEP, BENCH, PYTHON

PARENT_TAG, ROLE_TAG, RUNG_TAG = "mlflow.parentRunId", "aesweep.role", "aesweep.rung"
RESUMED_TAG, TRIAL_TAG = "resumed_from_epochs", "aesweep.trial"
VAL, TEST = "val_encoded_accuracy", "encoded_accuracy"
SHOWN = ("raw", "pca", "random")  # the controls a pick carries, beside the encoder


def common_args(p: dict, root: Path) -> list[str]:
    return [*p["data"], "evaluation.bootstrap_resamples=0", f"paths.root={root}"]


def sweep_runs(root: Path, way: str, expected: int | None = None) -> list[dict]:
    """The FINISHED child runs of the one sweep in ``root``'s store."""
    runs = read_runs(f"sqlite:///{root}/mlflow.db")
    parents = [r for r in runs if r["tags"].get(ROLE_TAG) == "sweep"]
    if len(parents) != 1:
        raise RuntimeError(f"{way}: expected one sweep parent run, found {len(parents)}")
    children = [r for r in runs if r["tags"].get(PARENT_TAG) == parents[0]["run_id"]]
    finished = [r for r in children if r["status"] == "FINISHED"]
    if len(finished) != len(children) or (expected is not None and len(finished) != expected):
        raise RuntimeError(f"{way}: {len(finished)} of {len(children)} child runs finished"
                           + (f" (expected {expected})" if expected is not None else ""))
    return finished


def trained_epochs(runs: list[dict]) -> int:
    return sum(int(r["params"]["trainer.epochs"]) - int(r["tags"].get(RESUMED_TAG, 0))
               for r in runs)


def cell(runs: list[dict]) -> dict[str, Any]:
    """One (bottleneck, epochs) over its seeds: means, the validation interval, controls."""
    from aesweep.stats import t_interval

    vals = [r["metrics"][VAL] for r in runs]
    mean, half = t_interval(vals)

    def avg(key: str) -> float | None:
        found = [r["metrics"][key] for r in runs if key in r["metrics"]]
        return sum(found) / len(found) if found else None

    return {"bottleneck": int(runs[0]["params"]["architecture.bottleneck"]),
            "epochs": int(runs[0]["params"]["trainer.epochs"]),
            "seeds": sorted(int(r["params"]["seed"]) for r in runs),
            "val_accuracy": mean, "val_half_width": half, "val_accuracies": vals,
            "test_accuracy": avg(TEST),
            "controls": {name: {"val_accuracy": avg(f"val_{name}_accuracy"),
                                "test_accuracy": avg(f"{name}_accuracy")} for name in SHOWN}}


def by_cell(runs: list[dict], key: tuple[str, ...]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(r["params"].get(k, r["tags"].get(k)) for k in key),
                          []).append(r)
    return groups


def grid_way(p: dict, work: Path) -> dict[str, Any]:
    root = work / "out"
    cmd = [AESWEEP, "-m", *common_args(p, root),
           f"architecture.bottleneck={','.join(map(str, p['bottlenecks']))}",
           f"trainer.epochs={','.join(map(str, p['epochs']))}",
           f"seed={','.join(map(str, p['seeds']))}"]
    proc = run_timed(cmd, work, p["timeout_s"])
    runs = sweep_runs(root, "grid", len(p["bottlenecks"]) * len(p["epochs"]) * len(p["seeds"]))
    cells = [cell(rs) for rs in by_cell(runs, ("architecture.bottleneck",
                                               "trainer.epochs")).values()]
    cells.sort(key=lambda c: (c["bottleneck"], c["epochs"]))
    winner = max(cells, key=lambda c: c["val_accuracy"])
    return {"cmd": cmd[1:], **proc, "runs": len(runs), "trained_epochs": trained_epochs(runs),
            "train_s_sum": sum(r["metrics"]["train_seconds"] for r in runs),
            "cells": cells, "pick": winner}


def search_way(p: dict, work: Path) -> dict[str, Any]:
    root, s = work / "out", p["search"]
    sweeper = "hydra.sweeper"
    cmd = [AESWEEP, "-m", "hydra/sweeper=search", *common_args(p, root),
           f"architecture.bottleneck=tag(log, int(interval({s['min_bottleneck']}, "
           f"{s['max_bottleneck']})))",
           f"+{sweeper}.repeat.seed='{','.join(map(str, p['seeds']))}'",
           f"{sweeper}.sampler={s['sampler']}", f"{sweeper}.seed={s['sampler_seed']}",
           f"{sweeper}.n_trials={s['n_trials']}",
           f"{sweeper}.fidelity.min_resource={min(p['epochs'])}",
           f"{sweeper}.fidelity.max_resource={max(p['epochs'])}",
           f"{sweeper}.fidelity.reduction_factor={s['eta']}"]
    proc = run_timed(cmd, work, p["timeout_s"])
    runs = sweep_runs(root, "search")
    top = max(int(r["tags"][RUNG_TAG]) for r in runs)
    trials = by_cell([r for r in runs if int(r["tags"][RUNG_TAG]) == top], (TRIAL_TAG,))
    finals = [{"trial": int(n), **cell(rs)} for (n,), rs in trials.items()]
    for f in finals:
        if f["seeds"] != sorted(p["seeds"]):
            raise RuntimeError(f"search: trial {f['trial']} ran seeds {f['seeds']} at the top")
    rungs: dict[str, dict[str, int]] = {}
    for r in runs:
        rung = rungs.setdefault(r["tags"][RUNG_TAG], {"epochs": int(r["params"][
            "trainer.epochs"]), "jobs": 0, "trained_epochs": 0})
        rung["jobs"] += 1
        rung["trained_epochs"] += trained_epochs([r])
    return {"cmd": cmd[1:], **proc, "runs": len(runs), "trained_epochs": trained_epochs(runs),
            "train_s_sum": sum(r["metrics"]["train_seconds"] for r in runs),
            "trials": len(by_cell(runs, (TRIAL_TAG,))), "rungs": rungs,
            "top_rung_trials": finals, "pick": max(finals, key=lambda c: c["val_accuracy"])}


def keras_tuner_way(p: dict, work: Path) -> dict[str, Any]:
    s, k = p["search"], p["keras_tuner"]
    spec = {"overrides": p["data"], "seeds": p["seeds"],
            "min_bottleneck": s["min_bottleneck"], "max_bottleneck": s["max_bottleneck"],
            "max_epochs": max(p["epochs"]), "factor": s["eta"], "min_epochs": k["min_epochs"],
            "tuner_seed": k["seed"], "directory": str(work / "tuner")}
    work.mkdir(parents=True, exist_ok=True)
    (work / "spec.json").write_text(json.dumps(spec))
    proc = run_timed([PYTHON, str(BENCH / "kt_peer.py"), str(work / "spec.json")], work,
                     p["timeout_s"])
    lines = (work / "log.txt").read_text().splitlines()
    result = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
    return {"spec": spec, **proc, **result}


def within(pick: dict, winner: dict) -> bool:
    """As good as the grid's winner: at least the lower end of its 95% interval."""
    return pick["val_accuracy"] >= winner["val_accuracy"] - winner["val_half_width"]


def show(pick: dict) -> str:
    test = pick.get("test_accuracy")
    return (f"bottleneck {pick['bottleneck']} x {pick['epochs']} epochs: val "
            f"{pick['val_accuracy']:.4f}" + ("" if test is None else f", test {test:.4f}"))


def search(profile: dict, tmp: Path) -> dict:
    share = profile["targets"]["search_epochs_share"]  # 1/n, checked in integers
    p = {"timeout_s": 1800, **profile["search"], "target_denominator": round(1 / share)}
    size = " ".join(p["data"])
    say(f"\n== search: grid (bottleneck {p['bottlenecks']} x epochs {p['epochs']} x seeds "
        f"{p['seeds']}) vs aesweep's search ({p['search']['n_trials']} trials) vs Keras "
        f"Tuner's Hyperband; {size} ==")
    ways: dict[str, Any] = {}
    for way, run in (("grid", grid_way), ("search", search_way),
                     ("keras_tuner", keras_tuner_way)):
        quiet = wait_for_quiet(patience=p.get("quiet_patience_s", 90))
        ways[way] = {**run(p, tmp / way), "before": quiet}
        w = ways[way]
        say(f"  {way:11s}: {w['wall_s']:6.1f} s wall (other processes {w['others_cores']:.2f} "
            f"cores), {w['trained_epochs']} epochs trained; pick {show(w['pick'])}")
    grid, found, kt = ways["grid"], ways["search"], ways["keras_tuner"]
    winner = grid["pick"]
    out = {
        **{k: p[k] for k in ("data", "bottlenecks", "epochs", "seeds", "search",
                             "keras_tuner")},
        "ways": ways,
        "walls_s": {way: w["wall_s"] for way, w in ways.items()},
        "trained_epochs": {way: w["trained_epochs"] for way, w in ways.items()},
        "winner": winner,
        "winner_interval": [winner["val_accuracy"] - winner["val_half_width"],
                            winner["val_accuracy"] + winner["val_half_width"]],
        "search_epochs_share": found["trained_epochs"] / grid["trained_epochs"],
        # As a product: 189 / 567 is exactly 1/3, which a float quotient may miss.
        "search_epochs_ok": (found["trained_epochs"] * p["target_denominator"]
                             <= grid["trained_epochs"]),
        "search_within": within(found["pick"], winner),
        "keras_tuner_within": within(kt["pick"], winner),
        "search_vs_keras_tuner_epochs": found["trained_epochs"] / kt["trained_epochs"],
    }
    lo, hi = out["winner_interval"]
    say(f"  grid winner {show(winner)} (95% interval {lo:.4f}-{hi:.4f}); search "
        f"{found['trained_epochs']} / {grid['trained_epochs']} epochs = "
        f"{out['search_epochs_share']:.3f}, pick {'within' if out['search_within'] else 'BELOW'}"
        f"; Keras Tuner {kt['trained_epochs']} epochs, pick "
        f"{'within' if out['keras_tuner_within'] else 'BELOW'}")
    for way in ("grid", "search"):  # what only aesweep reports: the controls, beside test
        c = ways[way]["pick"]["controls"]
        say(f"  {way} pick's controls (val / test): " + ", ".join(
            f"{name} {c[name]['val_accuracy']:.4f} / {c[name]['test_accuracy']:.4f}"
            for name in SHOWN if c[name]["val_accuracy"] is not None))
    return out
