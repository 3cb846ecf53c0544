"""The report at scale: a synthetic sweep of thousands of FINISHED runs, and how long
``aesweep-report`` takes to read it.

    .venv/bin/python bench/report_scale.py build sqlite:////tmp/s/mlflow.db --bottlenecks 50 \\
        --epochs 20 --seeds 10                      # 10,000 runs in ~1 min
    .venv/bin/python bench/report_scale.py read sqlite:////tmp/s/mlflow.db  # build_report's time

A synthetic run carries what a quickstart job logs (its params, composed from the config
as a job composes them; the job's tags; the final metrics of a classification job: 55, 15
and 54 when this was written), with made-up scores: the encoder beats PCA at some sizes and
not at others, and the seeds scatter so that some cells' differences are within noise.
Per-epoch histories are left out (the report reads only the latest values). The parent is
logged through the MLflow client; the children are inserted through MLflow's own table
models in one transaction: through the client, a run costs ~45 ms (three transactions),
8 min for 10,000. ``tests/test_report_scale.py`` checks that an inserted run reads back
as a logged one.

``report_scale`` is the bench section (``run.py``): it builds stores of 1,000 and 10,000
runs and times ``aesweep-report`` on each, in fresh processes (the driver imports no MLflow).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

# (run name, tags, params, final metrics): a job's run
Job = tuple[str, dict[str, str], dict[str, str], dict[str, float]]
FEATURE_SETS = ("encoded", "raw", "pca", "random")
SCORES = ("accuracy", "f1", "precision", "recall", "roc_auc")


def grid(bottlenecks: int, epochs: int, seeds: int) -> dict[str, list[int]]:
    """``bottlenecks`` sizes from 2 up, ``epochs`` counts from 5 up, ``seeds`` from 0."""
    return {"architecture.bottleneck": [2 * (i + 1) for i in range(bottlenecks)],
            "trainer.epochs": [5 * (i + 1) for i in range(epochs)],
            "seed": list(range(seeds))}


def _noise(*key: object) -> float:
    """A deterministic N(0, 1)-ish draw for ``key`` (no numpy: the driver may import this)."""
    h = uuid.uuid5(uuid.NAMESPACE_OID, repr(key)).int
    u1, u2 = ((h & 0xFFFFFFFF) + 1) / 2**32, (((h >> 32) & 0xFFFFFFFF) + 1) / 2**32
    return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


def metrics(b: int, e: int, seed: int, spread: float = 0.01) -> dict[str, float]:
    """A classification job's final metrics. The encoder gains with size and epochs; PCA
    gains faster with size, so the encoder wins at small sizes and loses at large ones."""
    base = {"encoded": 0.86 - 0.10 * math.exp(-b / 6) - 0.08 * math.exp(-e / 15),
            "raw": 0.85, "pca": 0.88 - 0.20 * math.exp(-b / 10),
            "random": 0.80 - 0.20 * math.exp(-b / 5)}
    test = {name: v + spread * _noise("test", name, b, e, seed) for name, v in base.items()}
    out: dict[str, float] = {}
    for name, accuracy in test.items():
        val = accuracy + spread * _noise("val", name, b, e, seed)
        for score, shift in zip(SCORES, (0.0, -0.01, 0.01, -0.02, 0.05), strict=True):
            out[f"{name}_{score}"] = min(accuracy + shift, 1.0)
            out[f"val_{name}_{score}"] = min(val + shift, 1.0)
    for control in ("raw", "pca", "random"):
        out[f"delta_vs_{control}"] = test["encoded"] - test[control]
    for control in ("raw", "pca"):
        delta = out[f"delta_vs_{control}"]
        out[f"ci_low_vs_{control}"], out[f"ci_high_vs_{control}"] = delta - 0.05, delta + 0.05
        out[f"mcnemar_p_vs_{control}"] = min(1.0, math.exp(-abs(delta) * 60))
    recon = 0.3 + 0.6 * math.exp(-b / 10) + 0.4 * math.exp(-e / 8)
    out |= {"recon_mse_test": recon * (1 + spread * _noise("recon", b, e, seed)),
            "recon_mse_val": recon, "train_loss": recon * 0.95, "val_loss": recon,
            "train_seconds": 0.05 * e}
    return out


@functools.cache
def quickstart_params() -> dict[str, str]:
    """The params a quickstart job logs, composed and redacted as the job does (once per
    process: composing takes seconds; callers copy it)."""
    from aesweep.config import compose_config
    from aesweep.tracking.redaction import Redactor

    cfg = compose_config(["+experiment=quickstart"])
    return Redactor(cfg).params(cfg)


def jobs(values: dict[str, list[int]], sweep_id: str, template: dict[str, str],
         extra: dict[str, Sequence[str]] | None = None) -> Iterator[Job]:
    """(run name, tags, params, metrics) of every job of the grid ``values`` (and of the
    ``extra`` params' values, each a separate swept key), as a sweep's jobs log them."""
    extra = extra or {}
    combos = [{}]
    for key, options in {**values, **extra}.items():
        combos = [{**c, key: v} for c in combos for v in options]
    for num, combo in enumerate(combos):
        b, e, seed = (int(combo[k]) for k in ("architecture.bottleneck", "trainer.epochs", "seed"))
        params = {**template, **{k: str(v) for k, v in combo.items()},
                  "split.random_state": str(seed)}
        name = ",".join(f"{k.rpartition('.')[2]}={v}" for k, v in combo.items())
        tags = {"aesweep.dataset": params["dataset.name"], "aesweep.device": "CPU",
                "aesweep.host": "bench", "aesweep.jit_compile": "false",
                "aesweep.job_num": str(num), "aesweep.main_metric": "accuracy",
                "aesweep.pid": "1", "aesweep.pid_started": "0", "aesweep.sweep_id": sweep_id,
                "aesweep.task": "classification",
                "aesweep.train_hash": uuid.uuid5(uuid.NAMESPACE_OID, f"{b}-{seed}").hex[:16],
                "aesweep.validation": "holdout",
                "config_hash": uuid.uuid5(uuid.NAMESPACE_OID, name).hex[:16],
                "mlflow.parentRunId": sweep_id, "mlflow.runName": name}
        yield name, tags, params, metrics(b, e, seed)


def insert_runs(uri: str, experiment_id: str, runs: Iterator[Job], start_ms: int) -> int:
    """Insert FINISHED runs through MLflow's table models, in one transaction (what
    ``create_run``, ``log_batch`` and ``set_terminated`` would store); return how many."""
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.tracking import MlflowClient

    location = MlflowClient(uri).get_experiment(experiment_id).artifact_location.rstrip("/")
    rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in (SqlRun, SqlTag, SqlParam,
                                                            SqlMetric, SqlLatestMetric)}
    for i, (name, tags, params, values) in enumerate(runs):
        run_id = uuid.uuid4().hex
        t = start_ms + i
        rows[SqlRun].append({
            "run_uuid": run_id, "name": name, "source_type": "UNKNOWN", "source_name": "",
            "entry_point_name": "", "user_id": "bench", "status": "FINISHED",
            "start_time": t, "end_time": t + 1, "deleted_time": None, "source_version": "",
            "lifecycle_stage": "active", "artifact_uri": f"{location}/{run_id}/artifacts",
            "experiment_id": int(experiment_id)})
        rows[SqlTag] += [{"key": k, "value": v, "run_uuid": run_id} for k, v in tags.items()]
        rows[SqlParam] += [{"key": k, "value": v, "run_uuid": run_id}
                           for k, v in params.items()]
        for table in (SqlMetric, SqlLatestMetric):
            rows[table] += [{"key": k, "value": v, "timestamp": t, "step": 0, "is_nan": False,
                             "run_uuid": run_id} for k, v in values.items()]
    engine = sqlalchemy.create_engine(uri)
    try:
        with engine.begin() as connection:
            for table, batch in rows.items():
                if batch:
                    connection.execute(sqlalchemy.insert(table.__table__), batch)
    finally:
        engine.dispose()
    return len(rows[SqlRun])


def build_store(uri: str, values: dict[str, list[int]],
                extra: dict[str, Sequence[str]] | None = None, experiment: str = "aesweep",
                edit: Callable[[Job], Job | None] | None = None) -> str:
    """A store (created if need be) with one sweep over ``values`` (see :func:`grid`):
    its parent logged through the client, its FINISHED jobs inserted, each through
    ``edit`` when given (None drops it). Returns the sweep id."""
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        root = Path(uri.removeprefix("sqlite:///")).parent
        experiment_id = client.create_experiment(experiment, (root / "mlartifacts").as_uri())
    else:
        experiment_id = found.experiment_id
    swept = {**values, **(extra or {})}
    overrides = " ".join(f"{k}={','.join(map(str, v))}" for k, v in swept.items())
    parent = client.create_run(experiment_id, run_name=f"sweep {len(swept)} keys",
                               tags={"aesweep.role": "sweep", "aesweep.host": "bench"})
    sweep_id = parent.info.run_id
    client.set_tag(sweep_id, "aesweep.sweep_id", sweep_id)
    client.log_batch(sweep_id, params=[Param("sweep.overrides", overrides),
                                       Param("sweep.sweeper", "aesweep")])
    runs = jobs(values, sweep_id, quickstart_params(), extra)
    if edit is not None:
        runs = (job for job in map(edit, runs) if job is not None)
    insert_runs(uri, experiment_id, runs, parent.info.start_time + 1)
    client.set_terminated(sweep_id, "FINISHED")
    return sweep_id


def read_seconds(uri: str) -> dict[str, Any]:
    """Time ``build_report`` alone on the latest sweep: imports and the store's start-up
    (a second or so, whatever the size) done first, so that the ratio of sizes is the
    reading's own."""
    from mlflow.tracking import MlflowClient

    from aesweep.report import build_report

    client = MlflowClient(uri)
    client.get_experiment_by_name("aesweep")
    started = time.perf_counter()
    report = build_report(client)
    return {"read_s": time.perf_counter() - started, "runs": len(report.runs),
            "cells": len(report.cells)}


# ---------------------------------------------------------------------------- bench section


def report_scale(profile: dict, tmp: Path) -> dict:
    """Build each size's store, then time ``aesweep-report`` (the command, process start
    included) and ``build_report`` alone on each, interleaved, ``reps`` times."""
    from processes import PYTHON, run_cli
    from sections import median, say

    s = profile["report_scale"]
    sizes = {int(n): shape for n, shape in s["sizes"].items()}
    say(f"\n== report at scale: aesweep-report on {', '.join(f'{n:,}' for n in sizes)} "
        "synthetic runs ==")
    report = str(Path(PYTHON).with_name("aesweep-report"))
    here = str(Path(__file__).resolve())
    r: dict[str, Any] = {"sizes": {}}
    for n, shape in sizes.items():
        uri = f"sqlite:///{tmp / str(n)}/mlflow.db"
        (tmp / str(n)).mkdir(parents=True)
        wall = run_cli([PYTHON, here, "build", uri, *(f"--{k}={v}" for k, v in shape.items())],
                       tmp / f"build-{n}")
        r["sizes"][n] = {"uri": uri, "build_s": wall, "cli_s": [], "read_s": []}
        say(f"  {n:>6,} runs built in {wall:.0f} s")
    for rep in range(profile["reps"]):
        for n, size in r["sizes"].items():
            size["cli_s"].append(run_cli(
                [report, "--tracking-uri", size["uri"], "--out", str(tmp / f"report-{n}")],
                tmp / f"cli-{n}-{rep}"))
            out = tmp / f"read-{n}-{rep}.json"
            run_cli([PYTHON, here, "read", size["uri"], "--json", str(out)], tmp / f"read-{n}")
            read = json.loads(out.read_text())
            if read["runs"] != n:
                raise RuntimeError(f"the report read {read['runs']} of {n} runs")
            size["read_s"].append(read["read_s"])
            say(f"  {n:>6,} runs: aesweep-report {size['cli_s'][-1]:.1f} s, build_report "
                f"{read['read_s']:.1f} s = {1000 * read['read_s'] / n:.2f} ms/run")
    for n, size in r["sizes"].items():
        size |= {"cli_median_s": median(size["cli_s"]), "read_median_s": median(size["read_s"]),
                 "read_ms_per_run": 1000 * median(size["read_s"]) / n}
    small, large = min(r["sizes"]), max(r["sizes"])
    r |= {"small": small, "large": large, "env_cpus": os.cpu_count(),
          "cli_large_s": r["sizes"][large]["cli_median_s"],
          "read_ratio": r["sizes"][large]["read_median_s"] / r["sizes"][small]["read_median_s"],
          "runs_ratio": large / small}
    r["per_run_ratio"] = r["read_ratio"] / r["runs_ratio"]
    # The command at 10,000 runs: measured, or (smaller sizes) plus the missing runs at
    # build_report's cost per run (the commands' walls differ by less than their noise).
    per_run = r["sizes"][large]["read_median_s"] / large
    r["cli_10k_s"] = r["cli_large_s"] + per_run * (10_000 - large)
    r["cli_10k_projected"] = large != 10_000
    say(f"  {large:,} / {small:,} runs: build_report x{r['read_ratio']:.1f} "
        f"(linear: x{r['runs_ratio']:.0f}); aesweep-report on {large:,}: "
        f"{r['cli_large_s']:.1f} s")
    return r


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="add a synthetic sweep to a store")
    build.add_argument("uri")
    for key, default in (("bottlenecks", 10), ("epochs", 10), ("seeds", 10)):
        build.add_argument(f"--{key}", type=int, default=default)
    read = commands.add_parser("read", help="time build_report on the latest sweep")
    read.add_argument("uri")
    read.add_argument("--json", type=Path, help="write the result here too")
    args = parser.parse_args(argv)
    if args.command == "build":
        sweep_id = build_store(args.uri, grid(args.bottlenecks, args.epochs, args.seeds))
        print(json.dumps({"sweep_id": sweep_id}))
    else:
        result = read_seconds(args.uri)
        if args.json:
            args.json.write_text(json.dumps(result))
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
