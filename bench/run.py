"""aesweep performance benchmark: every figure of issue 5, side by side, in one invocation.

Run it::

    make bench                                  # full version, ~13-15 min on 2 cores
    .venv/bin/python bench/run.py --quick       # smoke version, ~4-5 min
    .venv/bin/python bench/run.py --only per_step,explore --out /tmp/b.json

It prints each figure as it is measured, then a summary table (target, PASS/FAIL), and
writes everything, including every repetition, to ``outputs/bench.json``.

``--quick`` is a smoke test of every section, not a measurement: 1 repetition, fewer
rows (1,280 / 1,024 in 1, 1,024 in the settings, 5k-80k in 6), 1 epoch for 4, a sweep of
2 bottlenecks x 1 epoch count. Sizes of both versions: ``PROFILES`` below. The full
version took 13 min on the 2-core machine at load average 1-2.

How it measures
---------------
Other processes may load the CPU, so whatever is compared is measured in the same run,
interleaved (A, B, A, B, ... with the order alternating between repetitions), and every
figure is a median over repetitions (3 in the full version unless said otherwise; 1 in
``--quick``). Ratios are paired: taken between neighbours in time, then their median.
Process CPU time is recorded beside wall time: it is much less sensitive to other
processes' load, so the CPU-time ratios are printed as a cross-check (targets use wall
time).

TensorFlow runs in long-lived worker processes (``bench/worker.py``): one for the
framework, one for the plain-Keras baseline (so nothing the framework sets globally in
TensorFlow changes the baseline), one for the matmul peak, one per thread setting and
one per data size for the growth test; the driver (this file) imports no TensorFlow.
Workers and CLI runs work in a temporary directory, so nothing the framework may cache
under ``outputs/`` leaks into the checkout or from one measurement into another that must
recompute it.

1. Per-step cost. ``aesweep.AutoencoderFeatures(...).fit(X, validation_data=X_val)`` vs a
   hand-written functional Keras model (Dense-BN-LeakyReLU blocks, linear bottleneck,
   mirrored decoder: the reference design; ``worker.plain_autoencoder``) trained with
   ``model.fit(X, X, batch_size, epochs, validation_data)`` and Keras defaults otherwise
   (``verbose=0`` in both). Same data, widths, batch size, Adam(1e-3), MSE. The layer
   shapes and parameter counts are checked equal to ``aesweep.model.build_autoencoder``.
   A callback records every epoch's end time (it is injected into the framework's
   ``keras.Model.fit`` calls); an epoch's time is the interval between consecutive epoch
   ends, so the first epoch (graph tracing) is excluded and everything a training loop
   does per epoch (validation, checkpoints, re-entering ``fit``) is included. A fit's
   epoch time is the median of its 3 timed epochs; the framework's and the plain fit
   alternate (plain first in odd repetitions), and the ratio is the median over the 3
   repetitions of framework / plain within a repetition. Also shown: the "pooled" ratio
   (median of all 9 framework epochs / median of all 9 plain ones) and the CPU-time ratio.
   Shapes:
   (a) reference: 500 features, bottleneck 50, widths 1000/500, batch 64, 3,500 training
       + 500 validation rows (half the seed_article split of 10k rows: 0.7 / 0.1, to save
       time; the per-step cost does not depend on it), 4 epochs; target ratio <= 1.05.
   (b) small tabular: 100 features, bottleneck 50, widths 200/100, batch 16, 2,400 + 300
       rows, 4 epochs; target ratio <= 0.5.
2. Distance to the limit. Dense-layer FLOPs per training row
   = 6 x sum(in x out) (forward 2, gradient w.r.t. inputs 2, w.r.t. weights 2), plus
   2 x sum(in x out) per validation row; achieved FLOP/s = FLOPs of one epoch / epoch time
   of shape (a). A conservative count that drops the input gradient the first layer does
   not need (6 sum - 2 in0 x out0) is reported too; bias, batch norm, activations and the
   optimizer are not counted. Peak: warm ``tf.linalg.matmul`` of two 2048 x 2048 float32
   matrices (2 n^3 FLOPs), median of 5 calls, measured in the peak worker just before and
   just after every reference-shape fit; each fit is compared with the mean of the two.
   The figure is the median over the 3 repetitions of the framework's fit.
   Target: achieved / peak >= 70%. Cross-check: the same ratio in FLOPs per CPU-second.
3. Sweep cost. 3 bottlenecks x epochs {E, 2E, 4E} on the default dataset
   (synthetic_classification, 2000 x 50): ``aesweep -m ...`` in one process vs a naive
   loop that runs ``aesweep <overrides>`` once per grid point, each in a fresh process and
   working directory, with ``sweep.skip_finished=false trainer.reuse_checkpoints=false
   evaluation.cache_controls=false`` so that it recomputes everything, logging to one
   temporary SQLite store (the multirun to another, fresh: nothing cached beforehand).
   Wall time of each, process start included; the multirun's includes its closing table
   and report.
   Runs of the naive loop carrying a ``resumed`` tag are flagged (they would have reused
   work).
   One repetition in the full version (the naive loop alone takes minutes).
   Target: multirun / naive <= 0.5.
4. Overhead. ``aesweep +experiment=seed_article trainer.epochs=E`` run through
   ``bench/timed_cli.py``, which imports TensorFlow, Keras, MLflow, scikit-learn and
   matplotlib first and then times ``aesweep.app.main()``; overhead = that job time minus
   the run's ``train_seconds`` metric (read through ``MlflowClient``). E = 2 (1 in
   ``--quick``), 3 repetitions. The 10- and 50-epoch shares are projected with the
   framework's steady epoch time of 1(a), the same shape, scaled to 7,000 training rows:
   train_N = train_E + (N - E) x epoch, overhead unchanged. Target: <= 10% at 50 epochs
   (the seed_article job as configured).
5. Memory. Peak RSS (``ru_maxrss``) of the same seed_article process. Target <= 1.5 GiB.
6. Growth. One worker per size holds the whole float32 array (10k, 100k, 1M rows x 500
   features) and calls ``AutoencoderFeatures(bottleneck=50, epochs=1).fit(X)`` on it; a
   callback stops training after a fixed number of steps (the first few untimed), so the
   epoch time is extrapolated: per-step time x ceil(rows / 64), plus the measured fit
   set-up time. Peak RSS during the fit is measured for real (VmHWM, reset before each
   fit). ``--quick`` uses 5k, 20k and 80k rows.
   Linear growth means: per-step time at the largest size <= 1.3 x the smallest,
   and peak RSS grows by <= 1.5 x the data's own bytes per row between the two largest
   sizes (a second full copy of the data would make it 2x).

Training settings (explored with the plain-Keras baseline, both shapes, training only,
2,048 rows; each model warmed up by two untimed epochs, then trained one epoch per
``fit`` call, round-robin over all settings and both shapes, 5 rounds, so every setting is
measured within seconds of the others): ``jit_compile=True`` (Keras resolves its
default ``"auto"`` to False on a CPU-only machine), ``steps_per_execution`` 8 and 32, a
``tf.data`` pipeline (``from_tensor_slices -> shuffle -> batch -> prefetch(AUTOTUNE)``)
instead of NumPy arrays, and TensorFlow thread settings (intra/inter-op threads 1/1 and
2/1 vs the default 0/0 = one per core), each thread setting in its own worker. Reported as
milliseconds per step (median of the 5 rounds) and relative to the default, with the
process CPU time per step beside it. Here an epoch is timed from its begin to its end,
so what each ``fit`` call costs around it (data adapter, iterator teardown) is left out:
these figures compare settings, section 1 gives the real epoch cost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
AESWEEP = str(Path(PYTHON).with_name("aesweep"))
GIB = 1024**3

REF = {"name": "reference", "n_features": 500, "bottleneck": 50, "batch_size": 64}
SMALL = {"name": "small", "n_features": 100, "bottleneck": 50, "batch_size": 16}

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "reps": 3,
        "per_step": {"reference": {"n_train": 3500, "n_val": 500, "epochs": 4},
                     "small": {"n_train": 2400, "n_val": 300, "epochs": 4}},
        "explore": {"rows": {"reference": 2048, "small": 2048}, "rounds": 5, "warmup": 2},
        "growth": {"sizes": [10_000, 100_000, 1_000_000], "steps": 30, "skip": 6},
        "seed": {"epochs": 2, "reps": 3},
        "sweep": {"bottlenecks": [4, 8, 16], "epochs": [1, 2, 4], "reps": 1},
    },
    "quick": {
        "reps": 1,
        "per_step": {"reference": {"n_train": 1280, "n_val": 256, "epochs": 3},
                     "small": {"n_train": 1024, "n_val": 256, "epochs": 3}},
        "explore": {"rows": {"reference": 1024, "small": 1024}, "rounds": 2, "warmup": 1},
        "growth": {"sizes": [5_000, 20_000, 80_000], "steps": 10, "skip": 4},
        "seed": {"epochs": 1, "reps": 1},
        "sweep": {"bottlenecks": [4, 8], "epochs": [1], "reps": 1},
    },
}

SETTINGS = [
    ("default", {}),
    ("jit_compile", {"jit_compile": True}),
    ("spe=8", {"steps_per_execution": 8}),
    ("spe=32", {"steps_per_execution": 32}),
    ("tf.data", {"tfdata": True}),
]
THREADS = [("threads 1/1", 1, 1), ("threads 2/1", 2, 1)]  # intra, inter; default is 0/0

# The naive loop recomputes everything: no skipping, no checkpoint reuse, no control cache
# (checkpoints and the cache live beside the store, which the naive jobs share).
NAIVE = ("sweep.skip_finished=false", "trainer.reuse_checkpoints=false",
         "evaluation.cache_controls=false")

SECTIONS = ("per_step", "explore", "growth", "seed", "sweep")
TARGETS = {"ratio_reference": 1.05, "ratio_small": 0.5, "flops_share": 0.70,
           "sweep_ratio": 0.5, "overhead_share": 0.10, "peak_rss_gib": 1.5,
           "growth_step_ratio": 1.3, "growth_bytes_per_row": 1.5}


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def say(*parts: Any) -> None:
    print(*parts, flush=True)


def env() -> dict[str, str]:
    environment = dict(os.environ)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment.setdefault("PYTHONUNBUFFERED", "1")
    return environment


class Worker:
    """A ``bench/worker.py`` process: send a command, wait for its JSON reply."""

    def __init__(self, name: str, tmp: Path, *argv: str) -> None:
        self.name = name
        self.cwd = tmp / f"worker-{name.replace(' ', '_').replace('/', '-')}"
        self.cwd.mkdir(parents=True)
        self.log = (self.cwd / "stderr.log").open("w")
        self.proc = subprocess.Popen(
            [PYTHON, str(BENCH / "worker.py"), *argv], cwd=self.cwd, env=env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def _read(self, timeout: float) -> dict:
        if not self.selector.select(timeout):
            self.close()
            raise RuntimeError(f"worker {self.name}: no reply within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} died; see {self.cwd / 'stderr.log'}:\n"
                               + self.tail())
        return json.loads(line)

    def tail(self, n: int = 15) -> str:
        self.log.flush()
        return "\n".join((self.cwd / "stderr.log").read_text().splitlines()[-n:])

    def ready(self, timeout: float = 300) -> None:
        self._read(timeout)

    def call(self, cmd: str, timeout: float = 900, **args: Any) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, "args": args}) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout)
        if not reply["ok"]:
            raise RuntimeError(f"worker {self.name}: {cmd} failed:\n{reply['error']}")
        return reply["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_workers(tmp: Path, specs: list[tuple[str, list[str]]]) -> dict[str, Worker]:
    """Start several workers at once (imports overlap), then wait until all are ready,
    so no start-up runs during a measurement."""
    workers = {name: Worker(name, tmp, *argv) for name, argv in specs}
    for worker in workers.values():
        worker.ready()
    return workers


# ---------------------------------------------------------------------------- 1 + 2


def dense_flops(arch: dict, n_train: int, n_val: int) -> dict[str, float]:
    """Dense-layer FLOPs of one epoch: 6 sum(in x out) per training row (2 forward,
    2 input gradient, 2 weight gradient) and 2 sum(in x out) per validation row."""
    s, first = arch["sum_in_out"], arch["first_layer_in_out"]
    return {"formula": 6 * s * n_train + 2 * s * n_val,
            "conservative": (6 * s - 2 * first) * n_train + 2 * s * n_val}


def section_per_step(workers: dict[str, Worker], profile: dict, reps: int,
                     archs: dict) -> dict:
    say("\n== 1-2. per-step cost (framework vs plain Keras) and distance to the limit ==")
    shapes = {"reference": REF, "small": SMALL}
    rows: dict[str, dict[str, list]] = {s: {"framework": [], "plain": []} for s in shapes}
    flops = dense_flops(archs["reference"], profile["per_step"]["reference"]["n_train"],
                        profile["per_step"]["reference"]["n_val"])
    matmul: list[dict] = []

    def peak() -> dict:
        m = workers["peak"].call("matmul", n=2048, warmup=2, iters=5)
        matmul.append(m)
        return m

    for rep in range(reps):
        order = ["framework", "plain"] if rep % 2 == 0 else ["plain", "framework"]
        for shape_name, shape in shapes.items():
            size = profile["per_step"][shape_name]
            # Reference shape: the matmul peak just before and just after every fit.
            before = peak() if shape_name == "reference" else None
            for impl in order:
                r = workers[impl].call("fit", impl=impl, seed=rep, **shape, **size)
                if r["steady_epoch_s"] is None:
                    raise RuntimeError(f"{impl} {shape_name}: fewer than 2 epochs were "
                                       f"seen by the epoch clock: {r}")
                r["step_ms"] = 1000 * r["steady_epoch_s"] / r["steps_per_epoch"]
                extra = ""
                if before is not None:
                    after = peak()
                    pk = (before["median_gflops"] + after["median_gflops"]) / 2
                    cpu_pk = (before["median_gflops_per_cpu_s"]
                              + after["median_gflops_per_cpu_s"]) / 2
                    r.update({
                        "peak_gflops": pk, "gflops": flops["formula"] / r["steady_epoch_s"] / 1e9,
                        "share_conservative":
                            flops["conservative"] / r["steady_epoch_s"] / 1e9 / pk,
                        "cpu_share": flops["formula"] / r["steady_epoch_cpu_s"] / 1e9 / cpu_pk,
                    })
                    r["share"] = r["gflops"] / pk
                    extra = (f"; {r['gflops']:.1f} GFLOP/s = {100 * r['share']:.0f}% of "
                             f"matmul {pk:.1f}")
                    before = after
                rows[shape_name][impl].append(r)
                say(f"  rep {rep + 1} {shape_name:9s} {impl:9s} epochs "
                    f"{'/'.join(f'{x:.2f}' for x in r['epoch_intervals_s'])} s "
                    f"(CPU {'/'.join(f'{x:.2f}' for x in r['epoch_cpu_intervals_s'])} s): "
                    f"median {r['step_ms']:.2f} ms/step{extra}")

    out: dict[str, Any] = {"shapes": {}, "matmul": matmul,
                           "method": "whole fits alternate (order swapped every repetition); "
                                     "a fit's epoch time is the median of its timed epochs"}
    for shape_name, by_impl in rows.items():
        fw, pl = by_impl["framework"], by_impl["plain"]
        ratios = [f["steady_epoch_s"] / p["steady_epoch_s"] for f, p in zip(fw, pl, strict=True)]
        cpu_ratios = [f["steady_epoch_cpu_s"] / p["steady_epoch_cpu_s"]
                      for f, p in zip(fw, pl, strict=True)]
        fw_all = [x for r in fw for x in r["epoch_intervals_s"]]
        pl_all = [x for r in pl for x in r["epoch_intervals_s"]]
        steps = fw[0]["steps_per_epoch"]
        size = profile["per_step"][shape_name]
        out["shapes"][shape_name] = {
            **shapes[shape_name], **size, "arch": archs[shape_name], "steps_per_epoch": steps,
            "framework": fw, "plain": pl,
            "framework_epoch_s": median([r["steady_epoch_s"] for r in fw]),
            "plain_epoch_s": median([r["steady_epoch_s"] for r in pl]),
            "framework_step_ms": median([r["step_ms"] for r in fw]),
            "plain_step_ms": median([r["step_ms"] for r in pl]),
            "ratios": ratios, "ratio": median(ratios),
            # Every timed epoch pooled: a cross-check of the paired figure.
            "pooled_ratio": median(fw_all) / median(pl_all),
            # Process CPU time: a cross-check less sensitive to other processes' load.
            "cpu_ratios": cpu_ratios, "cpu_ratio": median(cpu_ratios),
        }

    fw, pl = rows["reference"]["framework"], rows["reference"]["plain"]
    out["flops"] = {
        "formula": "per epoch: 6 x sum(in*out) x n_train + 2 x sum(in*out) x n_val "
                   "(dense layers only); conservative: (6 sum - 2 in0*out0) x n_train + ...",
        "peak": "2 n^3 / time of tf.linalg.matmul(2048x2048, 2048x2048) float32, median of 5 "
                "warm calls, before and after every fit; a fit is compared with the mean of "
                "the two",
        "sum_in_out": archs["reference"]["sum_in_out"],
        "flops_per_train_step": 6 * archs["reference"]["sum_in_out"] * REF["batch_size"],
        "epoch_flops": flops["formula"], "epoch_flops_conservative": flops["conservative"],
        "peak_gflops": median([m["median_gflops"] for m in matmul]),
        "framework_gflops": median([r["gflops"] for r in fw]),
        "plain_gflops": median([r["gflops"] for r in pl]),
        "shares": [r["share"] for r in fw], "share": median([r["share"] for r in fw]),
        "share_conservative": median([r["share_conservative"] for r in fw]),
        "plain_share": median([r["share"] for r in pl]),
        # FLOPs per CPU-second of training vs of the matmul: less sensitive to load.
        "cpu_share": median([r["cpu_share"] for r in fw]),
    }
    return out


# ---------------------------------------------------------------------------- explore


def section_explore(workers: dict[str, Worker], profile: dict) -> dict:
    """Every (shape, setting) model is built and warmed up once, then trained one epoch at
    a time, round-robin, so that all settings are measured within seconds of each other."""
    ex = profile["explore"]
    say(f"\n== training settings (plain Keras, training only, ms per step; "
        f"{ex['rounds']} interleaved epochs each) ==")
    shapes = {"reference": REF, "small": SMALL}
    plan = [(name, "plain", settings) for name, settings in SETTINGS]
    plan += [(name, name, {}) for name, *_ in THREADS]
    warmup: dict[str, dict[str, Any]] = {s: {} for s in shapes}
    for shape_name, shape in shapes.items():
        for name, worker, settings in plan:
            warmup[shape_name][name] = workers[worker].call(
                "prepare", key=f"{shape_name}/{name}", seed=0, settings=settings,
                warmup=ex["warmup"],
                n_train=ex["rows"][shape_name], **shape)
    runs: dict[str, dict[str, list]] = {s: {name: [] for name, *_ in plan} for s in shapes}
    for rnd in range(ex["rounds"]):
        order = plan[rnd % len(plan):] + plan[:rnd % len(plan)]
        if rnd % 2:
            order.reverse()
        for shape_name in shapes:
            for name, worker, _ in order:
                runs[shape_name][name].append(
                    workers[worker].call("epoch", key=f"{shape_name}/{name}"))
            line = "  ".join(f"{n}={runs[shape_name][n][-1]['step_ms']:.2f}" for n, *_ in plan)
            say(f"  round {rnd + 1} {shape_name:9s} {line}")
    for name in {w for _, w, _ in plan}:
        workers[name].call("forget")
    table: dict[str, dict[str, Any]] = {}
    for shape_name, by_name in runs.items():
        base = median([r["step_ms"] for r in by_name["default"]])
        table[shape_name] = {}
        for name, rs in by_name.items():
            ms = median([r["step_ms"] for r in rs])
            ratio = ms / base
            table[shape_name][name] = {
                "step_ms": ms, "step_ms_rounds": [r["step_ms"] for r in rs],
                "cpu_step_ms": median([r["cpu_step_ms"] for r in rs]),
                "vs_default": ratio,
                "effect": "helps" if ratio < 0.9 else "hurts" if ratio > 1.1 else "neutral",
                "warmup_s": warmup[shape_name][name]["warmup_s"],
            }
    return {"rows": ex["rows"], "rounds": ex["rounds"], "settings": dict(SETTINGS),
            "threads": {n: {"intra": a, "inter": b} for n, a, b in THREADS},
            "effect_rule": "helps: < 0.9 x default; hurts: > 1.1 x default",
            "table": table}


# ---------------------------------------------------------------------------- growth


def section_growth(tmp: Path, profile: dict, reps: int) -> dict:
    g = profile["growth"]
    say(f"\n== 6. growth: rows x 500 features, {g['steps']} steps per fit "
        f"({g['skip']} untimed), epoch time extrapolated ==")
    specs = [(f"growth-{n}", []) for n in g["sizes"]]
    workers = start_workers(tmp, specs)
    loads = {}
    try:
        for n in g["sizes"]:
            loads[n] = workers[f"growth-{n}"].call("load", n_rows=n, n_features=500)
        runs: dict[int, list[dict]] = {n: [] for n in g["sizes"]}
        for rep in range(reps):
            order = g["sizes"] if rep % 2 == 0 else list(reversed(g["sizes"]))
            for n in order:
                r = workers[f"growth-{n}"].call(
                    "grow", steps=g["steps"], skip=g["skip"], bottleneck=50,
                    batch_size=64, seed=rep)
                if r["per_step_s"] is None:
                    raise RuntimeError(f"growth {n}: no timed steps: {r}")
                runs[n].append(r)
                say(f"  rep {rep + 1} {n:>9,} rows: {1000 * r['per_step_s']:.1f} ms/step, "
                    f"set-up {r['setup_s']:.2f} s, peak RSS {r['peak_rss_fit'] / GIB:.2f} GiB "
                    f"(data {loads[n]['data_bytes'] / GIB:.2f} GiB)")
    finally:
        for worker in workers.values():
            worker.close()
    sizes = {}
    for n in g["sizes"]:
        per_step = median([r["per_step_s"] for r in runs[n]])
        setup = median([r["setup_s"] for r in runs[n]])
        steps = math.ceil(n / 64)
        sizes[str(n)] = {
            **loads[n], "runs": runs[n], "per_step_s": per_step, "setup_s": setup,
            "steps_per_epoch": steps,
            "epoch_s_extrapolated": per_step * steps + setup,
            "peak_rss_fit": median([r["peak_rss_fit"] for r in runs[n]]),
            "rss_before_fit": median([r["rss_before_fit"] for r in runs[n]]),
        }
    small, mid, big = (sizes[str(n)] for n in g["sizes"])
    bytes_per_row = 500 * 4
    slope_top = (big["peak_rss_fit"] - mid["peak_rss_fit"]) / (g["sizes"][2] - g["sizes"][1])
    slope_low = (mid["peak_rss_fit"] - small["peak_rss_fit"]) / (g["sizes"][1] - g["sizes"][0])
    step_ratio = big["per_step_s"] / small["per_step_s"]
    return {
        "sizes": sizes, "steps": g["steps"], "skip": g["skip"],
        "epoch_time": "extrapolated: per-step time x ceil(rows / 64) + fit set-up time",
        "data_bytes_per_row": bytes_per_row,
        "rss_bytes_per_row_top": slope_top, "rss_bytes_per_row_low": slope_low,
        "rss_copies_of_data": slope_top / bytes_per_row,
        "step_ratio_largest_vs_smallest": step_ratio,
        "time_linear": step_ratio <= TARGETS["growth_step_ratio"],
        "memory_linear": slope_top <= TARGETS["growth_bytes_per_row"] * bytes_per_row,
    }


# ---------------------------------------------------------------------------- CLI jobs


def read_runs(uri: str) -> list[dict]:
    sys.path.insert(0, str(BENCH))
    from timed_cli import read_runs as read

    return read(uri)


def run_cli(cmd: list[str], cwd: Path, timeout: float = 1800) -> float:
    """Run a command in ``cwd`` (output to ``cwd/log.txt``); return its wall time."""
    cwd.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (cwd / "log.txt").open("w") as log:
        proc = subprocess.run(cmd, cwd=cwd, env=env(), stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = "\n".join((cwd / "log.txt").read_text().splitlines()[-20:])
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return wall


def section_seed(tmp: Path, profile: dict, steady_epoch_s: float | None) -> dict:
    s = profile["seed"]
    epochs = s["epochs"]
    say(f"\n== 4-5. seed_article job (trainer.epochs={epochs}): overhead and peak RSS ==")
    reps = []
    for rep in range(s["reps"]):
        work = tmp / f"seed-{rep}"
        result_file = work / "timed.json"
        cmd = [PYTHON, str(BENCH / "timed_cli.py"), str(result_file), "+experiment=seed_article",
               f"trainer.epochs={epochs}", f"tracking.uri=sqlite:///{work}/mlflow.db",
               f"hydra.run.dir={work}/run"]
        wall = run_cli(cmd, work)
        timed = json.loads(result_file.read_text())
        finished = [r for r in timed["runs"] if r["status"] == "FINISHED"]
        if len(finished) != 1:
            raise RuntimeError(f"seed_article: expected one FINISHED run, got {timed['runs']}")
        train = finished[0]["metrics"]["train_seconds"]
        overhead = timed["job_s"] - train
        r = {"process_wall_s": wall, "import_s": timed["import_s"], "job_s": timed["job_s"],
             "train_seconds": train, "overhead_s": overhead,
             "overhead_share": overhead / timed["job_s"], "maxrss_bytes": timed["maxrss_bytes"],
             "tags": {k: v for k, v in finished[0]["tags"].items() if k.startswith("aesweep")}}
        reps.append(r)
        say(f"  rep {rep + 1}: job {r['job_s']:.1f} s (imports {r['import_s']:.1f} s excluded), "
            f"train {train:.1f} s, overhead {overhead:.1f} s "
            f"({100 * r['overhead_share']:.1f}%), peak RSS {r['maxrss_bytes'] / GIB:.2f} GiB")
    overhead = median([r["overhead_s"] for r in reps])
    train = median([r["train_seconds"] for r in reps])
    epoch = steady_epoch_s if steady_epoch_s is not None else train / epochs
    projected = {}
    for target_epochs in (10, 50):
        train_n = train + (target_epochs - epochs) * epoch
        projected[str(target_epochs)] = {"train_s": train_n,
                                         "overhead_share": overhead / (overhead + train_n)}
    return {
        "epochs": epochs, "reps": reps, "overhead_s": overhead, "train_seconds": train,
        "job_s": median([r["job_s"] for r in reps]),
        "overhead_share": median([r["overhead_share"] for r in reps]),
        "epoch_s_used_for_projection": epoch,
        "epoch_source": "section 1(a) framework steady epoch, scaled to 7,000 rows"
        if steady_epoch_s is not None
        else "train_seconds / epochs",
        "projected": projected,
        "maxrss_bytes": median([r["maxrss_bytes"] for r in reps]),
    }


def section_sweep(tmp: Path, profile: dict) -> dict:
    s = profile["sweep"]
    bottlenecks, epochs = s["bottlenecks"], s["epochs"]
    grid = [(b, e) for b in bottlenecks for e in epochs]
    say(f"\n== 3. sweep: bottleneck {bottlenecks} x epochs {epochs} "
        f"({len(grid)} jobs, default dataset) ==")
    reps = []
    for rep in range(s["reps"]):
        work = tmp / f"sweep-{rep}"
        order = ["multirun", "naive"] if rep % 2 == 0 else ["naive", "multirun"]
        r: dict[str, Any] = {}
        for kind in order:
            uri = f"sqlite:///{work / kind}/mlflow.db"
            if kind == "multirun":
                cmd = [AESWEEP, "-m", f"architecture.bottleneck={','.join(map(str, bottlenecks))}",
                       f"trainer.epochs={','.join(map(str, epochs))}", f"tracking.uri={uri}",
                       f"hydra.sweep.dir={work / kind}/sweep"]
                wall = run_cli(cmd, work / kind / "cwd")
            else:
                wall = 0.0
                for i, (b, e) in enumerate(grid):
                    cmd = [AESWEEP, f"architecture.bottleneck={b}", f"trainer.epochs={e}",
                           *NAIVE, f"tracking.uri={uri}",
                           f"hydra.run.dir={work / kind}/run-{i}"]
                    wall += run_cli(cmd, work / kind / f"cwd-{i}")
            runs = [x for x in read_runs(uri) if x["tags"].get("aesweep.role") != "sweep"]
            finished = [x for x in runs if x["status"] == "FINISHED"]
            resumed = [x for x in runs if any("resumed" in k for k in x["tags"])]
            r[kind] = {"wall_s": wall, "runs": len(runs), "finished": len(finished),
                       "train_seconds_sum": sum(x["metrics"].get("train_seconds", 0.0)
                                                for x in finished),
                       "runs_with_resumed_tag": len(resumed),
                       "epochs_trained": sum(
                           int(x["params"].get("trainer.epochs", 0))
                           - int(x["tags"].get("resumed_from_epochs", 0)) for x in finished)}
            if len(finished) != len(grid):
                raise RuntimeError(f"sweep {kind}: {len(finished)} of {len(grid)} runs finished")
            say(f"  rep {rep + 1} {kind:8s}: {wall:.1f} s wall, "
                f"{r[kind]['train_seconds_sum']:.1f} s in training, {len(finished)} runs, "
                f"{r[kind]['epochs_trained']} epochs trained "
                f"({len(resumed)} runs resumed from a checkpoint)")
        r["ratio"] = r["multirun"]["wall_s"] / r["naive"]["wall_s"]
        if r["naive"]["runs_with_resumed_tag"]:
            r["warning"] = "naive runs carry a resumed tag: they reused work"
        reps.append(r)
    return {"bottlenecks": bottlenecks, "epochs": epochs, "jobs": len(grid),
            "dataset": "synthetic_classification defaults (2000 x 50)", "reps": reps,
            "multirun_s": median([r["multirun"]["wall_s"] for r in reps]),
            "naive_s": median([r["naive"]["wall_s"] for r in reps]),
            "ratio": median([r["ratio"] for r in reps])}


# ---------------------------------------------------------------------------- summary


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def summary_rows(res: dict) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, PASS/FAIL) for the table and the JSON."""
    rows = []
    ps = res.get("per_step")
    if ps:
        for name, key in (("reference", "ratio_reference"), ("small", "ratio_small")):
            s = ps["shapes"][name]
            rows.append((f"1 per-step {name} ({s['n_features']} f, batch {s['batch_size']})",
                         f"{s['framework_step_ms']:.2f} vs {s['plain_step_ms']:.2f} ms/step, "
                         f"ratio {s['ratio']:.2f} (pooled {s['pooled_ratio']:.2f}, "
                         f"CPU time {s['cpu_ratio']:.2f})",
                         f"<= {TARGETS[key]}", verdict(s["ratio"] <= TARGETS[key])))
        f = ps["flops"]
        rows.append(("2 FLOP/s vs matmul peak",
                     f"{f['framework_gflops']:.1f} / {f['peak_gflops']:.1f} GFLOP/s = "
                     f"{100 * f['share']:.0f}% (conservative {100 * f['share_conservative']:.0f}%,"
                     f" CPU time {100 * f['cpu_share']:.0f}%)",
                     ">= 70%", verdict(f["share"] >= TARGETS["flops_share"])))
    sw = res.get("sweep")
    if sw:
        rows.append((f"3 sweep {len(sw['bottlenecks'])}x{len(sw['epochs'])} multirun / naive",
                     f"{sw['multirun_s']:.0f} s / {sw['naive_s']:.0f} s = {sw['ratio']:.2f} "
                     f"({sw['reps'][0]['multirun']['epochs_trained']} vs "
                     f"{sw['reps'][0]['naive']['epochs_trained']} epochs trained)",
                     "<= 0.5", verdict(sw["ratio"] <= TARGETS["sweep_ratio"])))
    sd = res.get("seed")
    if sd:
        share50 = sd["projected"]["50"]["overhead_share"]
        rows.append(("4 seed_article overhead",
                     f"{sd['overhead_s']:.1f} s; {100 * sd['overhead_share']:.0f}% at "
                     f"{sd['epochs']} ep, {100 * sd['projected']['10']['overhead_share']:.0f}% "
                     f"at 10, {100 * share50:.1f}% at 50 (projected)",
                     "<= 10% (50 ep)", verdict(share50 <= TARGETS["overhead_share"])))
        rss = sd["maxrss_bytes"] / GIB
        rows.append(("5 seed_article peak RSS", f"{rss:.2f} GiB", "<= 1.5 GiB",
                     verdict(rss <= TARGETS["peak_rss_gib"])))
    gr = res.get("growth")
    if gr:
        sizes = list(gr["sizes"].values())
        times = ", ".join(f"{s['epoch_s_extrapolated']:.0f}" for s in sizes)
        rss = ", ".join(f"{s['peak_rss_fit'] / GIB:.2f}" for s in sizes)
        rows.append(("6 growth: epoch time (s, extrapolated)",
                     f"{times}; step x{gr['step_ratio_largest_vs_smallest']:.2f}",
                     "linear (step <= x1.3)", verdict(gr["time_linear"])))
        rows.append(("6 growth: peak RSS (GiB)",
                     f"{rss}; {gr['rss_bytes_per_row_top']:.0f} B/row "
                     f"({gr['rss_copies_of_data']:.2f}x data)",
                     "<= 1.5x data/row", verdict(gr["memory_linear"])))
    return rows


def print_explore(ex: dict) -> None:
    shapes = list(ex["table"])
    say(f"\ntraining settings, plain Keras: ms per step, median of {ex['rounds']} interleaved "
        f"epochs (x vs default; CPU ms per step; {ex['effect_rule']})")
    say(f"  {'setting':12s} " + "".join(f"{s:>34s}" for s in shapes))
    for name in ex["table"][shapes[0]]:
        cells = []
        for shape in shapes:
            c = ex["table"][shape][name]
            cells.append(f"{c['step_ms']:7.2f} x{c['vs_default']:.2f} {c['effect']:7s} "
                         f"cpu {c['cpu_step_ms']:6.2f}")
        say(f"  {name:12s} " + "".join(f"{c:>34s}" for c in cells))
    for shape in shapes:
        say(f"  every epoch, {shape}: " + "; ".join(
            f"{name} " + "/".join(f"{x:.1f}" for x in c["step_ms_rounds"])
            for name, c in ex["table"][shape].items()))


def print_summary(res: dict) -> None:
    rows = res["summary"]
    widths = [max(len(r[i]) for r in [("figure", "measured", "target", ""), *rows])
              for i in range(4)]
    say("\n" + "=" * (sum(widths) + 8))
    say("aesweep benchmark summary (medians; every repetition is in the JSON)")
    for r in [("figure", "measured", "target", "result"), *rows]:
        say("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))
    say("=" * (sum(widths) + 8))


# ---------------------------------------------------------------------------- main


def code_state() -> dict[str, str]:
    """The commit and any uncommitted change to the package: others edit it concurrently."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False)
        return proc.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"),
            "dirty": git("status", "--short", "--", "src", "conf", "experiments")}


def main() -> int:
    parser = argparse.ArgumentParser(description="aesweep performance benchmark (issue 5)",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke version, a few minutes")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench.json")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary dir")
    options = parser.parse_args()
    only = set(options.only.split(","))
    if only - set(SECTIONS):
        parser.error(f"unknown sections {only - set(SECTIONS)}")
    profile_name = "quick" if options.quick else "full"
    profile = PROFILES[profile_name]
    reps = profile["reps"]
    tmp = Path(tempfile.mkdtemp(prefix="aesweep-bench-"))
    started = time.perf_counter()
    res: dict[str, Any] = {
        "profile": profile_name, "config": profile, "targets": TARGETS,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "code": code_state(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "loadavg_start": os.getloadavg()},
        "sections": {}, "errors": {},
    }
    say(f"aesweep benchmark ({profile_name}); load average {os.getloadavg()}; tmp {tmp}")

    def section(name: str, run: Any) -> None:
        """Run one section, recording its wall time and load; one broken section does not
        lose the others."""
        clock, load = time.perf_counter(), os.getloadavg()
        try:
            res[name] = run()
        except Exception as error:
            res["errors"][name] = f"{type(error).__name__}: {error}"
            say(f"  {name} FAILED: {error}")
        res["sections"][name] = {"wall_s": time.perf_counter() - clock, "loadavg_start": load,
                                 "loadavg_end": os.getloadavg()}
        say(f"  [{name}: {res['sections'][name]['wall_s']:.0f} s, load average "
            f"{load[0]:.1f} -> {os.getloadavg()[0]:.1f}]")

    try:
        if only & {"per_step", "explore"}:
            # Framework and plain script in separate processes, so that nothing the
            # framework sets globally in TensorFlow changes the baseline.
            specs = [("framework", []), ("plain", []), ("peak", [])]
            if "explore" in only:
                specs += [(name, ["--intra", str(a), "--inter", str(b)])
                          for name, a, b in THREADS]
            workers = start_workers(tmp, specs)
            try:
                res["machine"]["worker"] = workers["plain"].call("ping")
                say(f"  worker: {res['machine']['worker']}")
                archs = {name: workers["plain"].call("arch", n_features=s["n_features"],
                                                     bottleneck=s["bottleneck"])
                         for name, s in (("reference", REF), ("small", SMALL))}
                for name, arch in archs.items():
                    if not arch["same_as_plain"]:
                        raise RuntimeError(f"plain model differs from build_autoencoder "
                                           f"({name}): {arch}")
                if "per_step" in only:
                    section("per_step", lambda: section_per_step(workers, profile, reps, archs))
                if "explore" in only:
                    section("explore", lambda: section_explore(workers, profile))
            finally:
                for worker in workers.values():
                    worker.close()
        steady = None
        if "per_step" in res:
            ref = res["per_step"]["shapes"]["reference"]
            # The seed_article job trains 7,000 rows and validates 1,000: same ratio as here.
            steady = ref["framework_epoch_s"] * 7000 / ref["n_train"]
        if "growth" in only:
            section("growth", lambda: section_growth(tmp, profile, reps))
        if "seed" in only:
            section("seed", lambda: section_seed(tmp, profile, steady))
        if "sweep" in only:
            section("sweep", lambda: section_sweep(tmp, profile))
    finally:
        res["elapsed_s"] = time.perf_counter() - started
        res["machine"]["loadavg_end"] = os.getloadavg()
        res["summary"] = [dict(zip(("figure", "measured", "target", "result"), r, strict=True))
                          for r in summary_rows(res)]
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(res, indent=1, default=str) + "\n")
        if not options.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if "explore" in res:
        print_explore(res["explore"])
    print_summary({"summary": summary_rows(res)})
    for name, error in res["errors"].items():
        say(f"section {name} failed: {error}")
    say(f"elapsed {res['elapsed_s'] / 60:.1f} min; load average at the end "
        f"{res['machine']['loadavg_end']}; written to {options.out}")
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
