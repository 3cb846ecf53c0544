"""aesweep performance benchmark: every figure of issue 5, side by side, in one invocation.

    make bench                                   # full version, ~55 min on 2 cores
    .venv/bin/python bench/run.py --quick        # smoke version, a few minutes
    .venv/bin/python bench/run.py --only per_step,explore --out /tmp/b.json

It prints each figure as it is measured, then a summary table (target, PASS/FAIL), and
writes everything, every repetition included, to ``outputs/bench.json``. ``--quick`` checks
that every section runs (1 repetition, small sizes); its figures are not measurements.

How it measures. Other processes may load the CPU, so what is compared is measured in the
same run, interleaved, and figures are medians over repetitions (3 unless said). The
driver imports no TensorFlow: long-lived worker processes (``worker.py``) train, one for
the framework, one for the plain-Keras baseline (nothing the framework sets globally in
TensorFlow reaches the baseline), one for the matmul peak, one per thread setting and one
per data size. Everything runs in a temporary directory: no cache or checkpoint of one
measurement helps another.

1. Per-step cost. ``AutoencoderFeatures(...).fit(X, validation_data=X_val)`` with the
   framework's defaults (``jit_compile`` resolved by the work ahead) vs a hand-written
   functional Keras model of the same layers (checked: same kernel shapes and parameter
   count) trained by ``model.fit(X, X, batch_size, epochs, validation_data)`` with Keras
   defaults. Same rows, Adam(1e-3), MSE. A Keras callback records every epoch's end; an
   epoch's time is the interval between two epoch ends, so the first epoch (tracing,
   compiling) is out and all per-epoch work (validation) is in. A fit's figure is the median
   of its epochs; framework and plain fits alternate, and the ratio is the median over
   repetitions of framework / plain. Shapes: (a) reference: 500 features, bottleneck 50,
   widths 1000/500, batch 64, the seed_article split (7,000 training, 1,000 validation
   rows), target <= 1.05; (b) small: 100 features, bottleneck 50, widths 200/100, batch 16,
   2,400 + 300 rows, target <= 0.5.
2. Distance to the limit. Model FLOPs of the dense layers: 6 x sum(in x out) per training
   row (forward, input gradient, weight gradient) + 2 x sum(in x out) per validation row;
   "conservative" drops the first layer's input gradient, which no one needs. Achieved
   FLOP/s = one epoch's FLOPs / its time, for 1(a). Peak: a warm float32
   ``tf.linalg.matmul`` of two 2048 x 2048 matrices (2 n^3 FLOPs, median of 5 calls),
   measured just before and just after every reference fit; a fit is compared with the mean
   of the two. Target >= 70%. For scale, the same peak worker also times a training
   step's dense matrix products alone at their real shapes (batch 64), XLA-compiled: what
   the hardware gives those shapes, and how close training comes to it.
3. Sweep cost. 3 bottlenecks x epochs {E, 2E, 4E} on the seed_article data: ``aesweep -m``
   (one process) vs a naive loop of ``aesweep`` command lines, one fresh process per job,
   each recomputing everything (no skipping, checkpoint reuse or control cache). Wall time
   of both, process start included. Target multirun / naive <= 0.5.
4. Overhead. ``aesweep +experiment=seed_article`` (50 epochs) run by ``timed_cli.py``,
   which imports the heavy libraries first and times the job alone: overhead = job time -
   the run's ``train_seconds`` (which includes tracing and compiling). "cold": a single
   run's job, paying every lazy import and first call and a new store's tables; "warm": the
   same job after a small one in the same process and store, as a sweep's jobs run (at
   ``trainer.epochs=2``, its share taken against the cold runs' 50-epoch training). The
   target applies to the per-job figure, warm: <= 10%.
5. Memory. Peak RSS (``ru_maxrss``) of the cold seed_article processes. Target <= 1.5 GiB.
6. Growth. ``AutoencoderFeatures(bottleneck=50).fit(X)`` on 10k, 100k and 1M rows x 500
   float32 features, each size in its own process: every epoch timed (the first, which
   compiles, left out), and the peak RSS during the fit (VmHWM, reset before it). Linear:
   time per row at 1M <= 1.3x that at 10k, and peak RSS grows by <= 1.5x the data's own
   bytes per row from 100k to 1M (a second copy of the data would make it 2x).

Launchers (``launchers.py``). One 8-job sweep, each way a fresh process in a fresh
directory: in-process, joblib and Ray (2 workers), and the same trainings as a plain Ray
Tune experiment. Speed-ups over in-process (>= 1.6x), Ray's overhead per job beyond
joblib's (<= 1 s; defined in ``launchers.py``), aesweep on Ray / Ray Tune (<= 1.1).

Search (``search.py``). One task, three ways to find its best bottleneck and epochs, each
a fresh process with its own store: aesweep's grid (7 bottlenecks x epochs 3/9/27 x 3
seeds, staged, resuming), aesweep's search (``hydra/sweeper=search``: TPE, 9 trials halved
over 3/9/27 epochs, 3 seeds each) and Keras Tuner's Hyperband (``kt_peer.py``: same rows,
space, model and objective). Trained epochs, wall times and each pick's validation (and
test) accuracy: the search's pick within the grid winner's 95% interval with <= 1/3 of
the grid's epochs, and with no more epochs than Keras Tuner.

Tracking server (``server_load.py``). A TrackingServer (PostgreSQL, basic auth, one worker)
in a temporary directory, loaded for 60 s by 32 client threads, each logging whole job
results (params, per-epoch metrics, final metrics, two artifacts) under a parent run: jobs
logged per second, the p95 of one job's logging, nothing lost, and a projection to 100 nodes.

Report at scale (``report_scale.py``). Synthetic sweeps of 1,000 and 10,000 FINISHED runs,
each logged as a quickstart job logs it (params, tags, final metrics; 20 epoch counts in the
large one), each in its own SQLite store: ``aesweep-report`` timed as a command (process
start, reading, figures and artifacts; <= 60 s for 10,000 runs) and ``build_report`` alone
in a fresh process, interleaved. Linear: time per run at 10,000 <= 1.3x that at 1,000.

MLflow UI (``ui.py``). ``make ui`` on a store holding aesweep's experiment: seconds until
``/health`` answers (<= 15 s) and the memory of all its processes 5 s later (<= 600 MiB),
then MLflow's stock ``mlflow ui`` (job execution on, default workers) the same way.

CLI answers (``cli_latency.py``, issue 14): ``aesweep --help``, ``aesweep --cfg job``,
``aesweep-report --help`` and a config error, each a fresh process, interleaved; median of
the rounds, <= 1.5 s each.

Quickstart (``quickstart.py``, issue 14). ``make sweep`` after install: the quickstart
sweep's wall time in a fresh process (<= 20 s), its training, and the median
``overhead_seconds`` of its warm jobs (<= 0.3 s); a new SQLite store opened as a copy of
the cached empty one vs migrated by MLflow.

Training settings ("explore"): each setting trains one model on 2,048 rows (no validation),
warmed up by two untimed epochs, then one timed epoch per round, round-robin over all
settings and both shapes, 5 rounds. Plain Keras: defaults, ``jit_compile=True`` (Keras's
"auto" is False on a CPU), ``steps_per_execution=32``, a ``tf.data`` pipeline with
prefetch. The framework's loop (``aesweep.training.Trainer``): one step per compiled call or
chunked (its default), each with and without XLA, and XLA chunked under TensorFlow thread
settings (intra/inter-op 1/1 and 2/1 vs the default one per core). Milliseconds per step
(median of the rounds) and relative to Keras's defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import architectures
import cli_latency
import job_overhead
import launchers
import quickstart
import report_scale
import search
import sections
import ui
from sections import GIB, say

ROOT = Path(__file__).resolve().parent.parent

TARGETS = {"ratio_reference": 1.05, "ratio_small": 0.5, "flops_share": 0.70,
           "sweep_ratio": 0.5, "overhead_share": 0.10, "peak_rss_gib": 1.5,
           "growth_time_per_row": 1.3, "growth_bytes_per_row": 1.5,
           "launcher_speedup": 1.6, "ray_overhead_s": 1.0, "ray_vs_tune": 1.1,
           "search_epochs_share": 1 / 3, "report_s_per_10k_runs": 60.0,
           "report_time_per_run": 1.3}
PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "reps": 3,
        "per_step": {"reference": {"n_train": 7000, "n_val": 1000, "epochs": 5},
                     "small": {"n_train": 2400, "n_val": 300, "epochs": 5}},
        "explore": {"rows": 2048, "rounds": 5, "warmup": 2},
        # rows: (epochs per fit, fits)
        "growth": {"plan": {"10000": (4, 3), "100000": (3, 3), "1000000": (3, 1)}},
        "seed": {"epochs": None, "warm_epochs": 2, "reps": 3},
        "sweep": {"bottlenecks": [8, 16, 32], "epochs": [2, 4, 8],
                  "data": ["+experiment=seed_article"]},
        "launchers": {"bottlenecks": [4, 8, 16, 32], "seeds": [0, 1], "n_samples": 16000,
                      "n_features": 100, "epochs": 10},
        "server_throughput": {"clients": 32, "seconds": 60},
        # ~13 min on 2 quiet cores: grid ~4, search ~2.5, Keras Tuner ~7.
        "search": {"data": ["dataset.n_samples=2000", "dataset.n_features=40",
                            "dataset.n_informative=10", "dataset.n_redundant=10",
                            "split.random_state=0"],
                   "bottlenecks": [4, 8, 16, 32, 64, 128, 256], "epochs": [3, 9, 27],
                   "seeds": [0, 1, 2],
                   "search": {"min_bottleneck": 4, "max_bottleneck": 256, "sampler": "tpe",
                              "sampler_seed": 0, "n_trials": 9, "eta": 3},
                   "keras_tuner": {"min_epochs": 3, "seed": 0}, "quiet_patience_s": 30},
        # ~6 min on 2 cores: the stores ~1 min, then 3 x (30 + 25 s at 10k, 10 + 5 s at 1k).
        "report_scale": {"sizes": {"1000": {"bottlenecks": 10, "epochs": 10, "seeds": 10},
                                   "10000": {"bottlenecks": 50, "epochs": 20, "seeds": 10}}},
        # ~8 min on 2 cores: the step times, then 45 digits jobs and 36 mixed-table jobs.
        "architectures": {
            "bottlenecks": [8, 16, 32], "seeds": [0, 1, 2], "epochs": 20, "mixed_rows": 4000,
            "timeout_s": 3600,
            "steps": {"epochs": 4, "reps": 3, "shapes": {
                "reference": {"rows": 7000, "features": 500, "bottleneck": 32,
                              "architectures": ["dense", "denoising", "sparse",
                                                "variational"]},
                "digits": {"rows": 1797, "features": 64, "bottleneck": 16,
                           "epochs": 15, "reps": 5, "overrides": ["dataset=digits"],
                           "architectures": ["dense", "denoising", "sparse", "variational",
                                             "conv"]}}}},
        # ~2 min: 3 quickstart sweeps, 10 new stores.
        "quickstart": {"reps": 3, "store_reps": 5},
        "cli_latency": {"reps": 9, "warmup": 1},  # ~1 min
        "job_overhead": {"overrides": ["+experiment=quickstart"], "timeout_s": 1200},
    },
    "quick": {
        "reps": 1,
        "per_step": {"reference": {"n_train": 1280, "n_val": 256, "epochs": 3},
                     "small": {"n_train": 1024, "n_val": 256, "epochs": 3}},
        "explore": {"rows": 1024, "rounds": 1, "warmup": 1},
        "growth": {"plan": {"5000": (2, 1), "20000": (2, 1), "80000": (2, 1)}},
        "seed": {"epochs": 2, "warm_epochs": 1, "reps": 1},
        "sweep": {"bottlenecks": [4, 8], "epochs": [1, 2], "data": []},
        "launchers": {"bottlenecks": [4, 8], "seeds": [0], "n_samples": 1000, "n_features": 20,
                      "epochs": 2, "quiet_patience_s": 10},
        "server_throughput": {"clients": 32, "seconds": 5},
        "search": {"data": ["dataset.n_samples=600", "dataset.n_features=20",
                            "dataset.n_informative=5", "dataset.n_redundant=5",
                            "split.random_state=0"],
                   "bottlenecks": [4, 16], "epochs": [1, 3], "seeds": [0, 1],
                   "search": {"min_bottleneck": 4, "max_bottleneck": 16, "sampler": "tpe",
                              "sampler_seed": 0, "n_trials": 3, "eta": 3},
                   "keras_tuner": {"min_epochs": 1, "seed": 0}, "quiet_patience_s": 10},
        "report_scale": {"sizes": {"100": {"bottlenecks": 5, "epochs": 4, "seeds": 5},
                                   "1000": {"bottlenecks": 10, "epochs": 10, "seeds": 10}}},
        "architectures": {
            "bottlenecks": [4, 8], "seeds": [0, 1], "epochs": 2, "mixed_rows": 400,
            "timeout_s": 900,
            "steps": {"epochs": 3, "reps": 1, "shapes": {
                "digits": {"rows": 1797, "features": 64, "bottleneck": 16,
                           "overrides": ["dataset=digits"],
                           "architectures": ["dense", "denoising", "sparse", "variational",
                                             "conv"]}}}},
        "quickstart": {"reps": 1, "store_reps": 1},
        "cli_latency": {"reps": 3, "warmup": 1},
        "job_overhead": {"overrides": ["+experiment=quickstart", "trainer.epochs=1,2"],
                         "timeout_s": 600},
    },
}
SECTIONS = ("per_step", "explore", "growth", "seed", "sweep", "launchers", "search",
            "server_throughput", "report_scale", "ui", "architectures", "quickstart", "cli_latency",
            "job_overhead")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def summary_rows(res: dict) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, PASS/FAIL) for the table and the JSON."""
    rows = []
    if ps := res.get("per_step"):
        for name, key in (("reference", "ratio_reference"), ("small", "ratio_small")):
            s = ps["shapes"][name]
            rows.append((f"1 per-step {name} ({s['n_features']} f, batch {s['batch_size']})",
                         f"{s['framework_step_ms']:.2f} vs {s['plain_step_ms']:.2f} ms/step = "
                         f"{s['ratio']:.2f} (XLA {'on' if s['framework_xla'] else 'off'}; "
                         f"CPU-time ratio {s['cpu_ratio']:.2f})",
                         f"<= {TARGETS[key]}", verdict(s["ratio"] <= TARGETS[key])))
        f = ps["flops"]
        rows.append(("2 FLOP/s vs matmul peak",
                     f"{f['framework_gflops']:.0f} / {f['peak_gflops']:.0f} GFLOP/s = "
                     f"{100 * f['share']:.0f}% (conservative count "
                     f"{100 * f['share_conservative']:.0f}%; plain Keras "
                     f"{100 * f['plain_share']:.0f}%; the step's GEMMs alone reach "
                     f"{100 * f['gemms_share_of_peak']:.0f}% of peak, training "
                     f"{100 * f['share_of_gemms']:.0f}% of them)",
                     ">= 70%", verdict(f["share"] >= TARGETS["flops_share"])))
    if sw := res.get("sweep"):
        rows.append((f"3 sweep {len(sw['bottlenecks'])}x{len(sw['epochs'])}, multirun / naive",
                     f"{sw['multirun']['wall_s']:.0f} s / {sw['naive']['wall_s']:.0f} s = "
                     f"{sw['ratio']:.2f} ({sw['multirun']['epochs_trained']} vs "
                     f"{sw['naive']['epochs_trained']} epochs trained)",
                     "<= 0.5", verdict(sw["ratio"] <= TARGETS["sweep_ratio"])))
    if sd := res.get("seed"):
        cold, warm = sd["cold"], sd["warm"]
        rows.append(("4 seed_article overhead per job (warm)",
                     f"{warm['overhead_s']:.1f} s = {100 * warm['share_at_cold_epochs']:.1f}% of "
                     f"a {warm['overhead_s'] + cold['train_seconds']:.0f} s job; cold: "
                     f"{cold['overhead_s']:.1f} s = {100 * cold['overhead_share']:.1f}%",
                     "<= 10%", verdict(warm["share_at_cold_epochs"] <= TARGETS["overhead_share"])))
        rss = cold["maxrss_bytes"] / GIB
        rows.append(("5 seed_article peak RSS", f"{rss:.2f} GiB", "<= 1.5 GiB",
                     verdict(rss <= TARGETS["peak_rss_gib"])))
    if gr := res.get("growth"):
        sizes = gr["sizes"]
        rows.append(("6 growth: epoch time (s)",
                     ", ".join(f"{int(n):,}: {s['epoch_s']:.1f}" for n, s in sizes.items())
                     + f"; per row x{gr['time_per_row_ratio']:.2f}",
                     "linear (<= x1.3 per row)", verdict(gr["time_linear"])))
        rows.append(("6 growth: peak RSS (GiB)",
                     ", ".join(f"{s['peak_rss_fit'] / GIB:.2f}" for s in sizes.values())
                     + f"; +{gr['rss_bytes_per_row_top']:.0f} B/row = "
                     f"{gr['rss_copies_of_data']:.2f}x the data",
                     "<= 1.5x data/row", verdict(gr["memory_linear"])))
    if la := res.get("launchers"):
        w, o, nt = la["walls_s"], la["overhead_per_job_s"], la["non_training_per_job_s"]
        for way in ("joblib", "ray"):
            rows.append((f"launchers: {la['jobs']} jobs on {way}, speed-up over in-process",
                         f"{w['in-process']:.0f} / {w[way]:.0f} s = {la[f'speedup_{way}']:.2f}x "
                         f"(other processes took {la['ways']['in-process']['others_cores']:.2f}"
                         f" / {la['ways'][way]['others_cores']:.2f} cores)",
                         ">= 1.6x", verdict(la[f"speedup_{way}"] >= TARGETS["launcher_speedup"])))
        rows.append(("launchers: Ray's overhead per job",
                     f"{la['ray_overhead_per_job_s']:.2f} s beyond joblib's (slot-s per job "
                     f"outside own work: Ray {o['ray']:.2f}, joblib {o['joblib']:.2f}, "
                     f"in-process {o['in-process']:.2f})",
                     "<= 1 s", verdict(la["ray_overhead_per_job_s"] <= TARGETS["ray_overhead_s"])))
        rows.append(("launchers: aesweep on Ray / Ray Tune",
                     f"{w['ray']:.0f} / {w['tune']:.0f} s = {la['ray_vs_tune']:.2f} (outside "
                     f"training: {nt['ray']:.1f} vs {nt['tune']:.1f} slot-s per job)",
                     "<= 1.1", verdict(la["ray_vs_tune"] <= TARGETS["ray_vs_tune"])))
    if se := res.get("search"):
        rows += search_rows(se)
    if rs := res.get("report_scale"):
        rows += report_rows(rs)
    if u := res.get("ui"):
        lean, stock = u["make_ui"], u["stock"]
        rows.append(("make ui: answers / memory of all its processes",
                     f"{lean['answer_s']:.1f} s / {lean['rss_mib']:.0f} MiB (stock mlflow ui: "
                     f"{stock['answer_s']:.1f} s / {stock['rss_mib']:.0f} MiB)",
                     f"<= {ui.GOAL_SECONDS:g} s / <= {ui.GOAL_MIB:g} MiB", verdict(u["ok"])))
    if ar := res.get("architectures"):
        for shape, figures in ar["steps"].items():
            ratios = figures["ratio_to_dense"]
            goal = [a for a in architectures.GOAL_ARCHITECTURES if a in ratios]
            rows.append((f"architectures: step time vs dense at {shape} "
                         f"({figures['features']} f)",
                         ", ".join(f"{a} {ratios[a]:.2f}x" for a in ratios if a != "dense"),
                         f"{', '.join(goal)} <= {architectures.GOAL_RATIO}",
                         verdict(all(ratios[a] <= architectures.GOAL_RATIO for a in goal))))
        for name, sweep in ar["sweeps"].items():
            rows.append((f"architectures: {name} sweep", sweep["summary"], "(measured)",
                         ""))
    if cl := res.get("cli_latency"):
        for name, c in cl["commands"].items():
            rows.append((f"cli: {name}", f"{c['median_s']:.2f} s", f"<= {c['goal_s']:g} s",
                         verdict(c["ok"])))
    if jo := res.get("job_overhead"):
        rows.append(("job_overhead: overhead per warm multirun job (median)",
                     f"{jo['warm_overhead_s']:.2f} s (cold job {jo['cold_overhead_s']:.2f} s; "
                     f"between runs {jo['between_runs_median_s'] or 0:.2f} s)",
                     f"<= {job_overhead.GOAL_S:g} s", verdict(jo["ok"])))
    if qs := res.get("quickstart"):
        rows.append(("quickstart: make sweep after install (6 jobs)",
                     f"{qs['wall_s']:.1f} s wall, of which {qs['train_s']:.1f} s training",
                     f"<= {quickstart.GOAL_WALL_S:g} s", verdict(qs["ok_wall"])))
        st_ = qs["store"]
        rows.append(("quickstart: a new SQLite store, copied / migrated",
                     f"{st_['seeded_median_s']:.2f} / {st_['migrated_median_s']:.2f} s = "
                     f"{st_['ratio']:.2f}x", "(measured)", ""))
    if st := res.get("server_throughput"):
        cases = st["projection"]["cases"]
        rows.append(("7 tracking server: jobs logged by 32 clients",
                     f"{st['jobs_per_s']:.2f} jobs/s, p95 {st['latency_s']['p95']:.1f} s per job; "
                     + "; ".join(f"100 nodes of {c['job_s']:.0f} s jobs: {c['capacity_ratio']:.2f}x"
                                 " needed" for c in cases.values()),
                     "nothing lost", verdict(st["check"]["lost"] == 0 and not st["errors"])))
    return rows


def search_rows(se: dict) -> list[tuple[str, str, str, str]]:
    ways, winner, (lo, hi) = se["ways"], se["winner"], se["winner_interval"]
    epochs, walls = se["trained_epochs"], se["walls_s"]

    def pick(p: dict) -> str:
        return (f"{p['bottleneck']} x {p['epochs']} ep: val {p['val_accuracy']:.3f} "
                f"(test {p['test_accuracy']:.3f})")

    return [
        ("search: aesweep's pick vs the grid's winner",
         f"{pick(ways['search']['pick'])} vs {pick(winner)}, 95% [{lo:.3f}, {hi:.3f}]; "
         f"{epochs['search']} / {epochs['grid']} epochs = {se['search_epochs_share']:.2f}",
         "val >= interval's low end, epochs <= 1/3",
         verdict(se["search_within"] and se["search_epochs_ok"])),
        ("search: aesweep vs Keras Tuner Hyperband",
         f"{epochs['search']} vs {epochs['keras_tuner']} epochs, {walls['search']:.0f} vs "
         f"{walls['keras_tuner']:.0f} s; Keras Tuner's pick {pick(ways['keras_tuner']['pick'])}"
         f" ({'within' if se['keras_tuner_within'] else 'below'} the interval)",
         "<= Keras Tuner's epochs, pick in the interval",
         verdict(se["search_within"] and epochs["search"] <= epochs["keras_tuner"])),
    ]


def report_rows(rs: dict) -> list[tuple[str, str, str, str]]:
    large, small = rs["sizes"][rs["large"]], rs["sizes"][rs["small"]]
    projected = f"; {rs['cli_10k_s']:.0f} s projected to 10,000" if rs["cli_10k_projected"] \
        else ""
    return [
        (f"report: aesweep-report on {rs['large']:,} runs",
         f"{large['cli_median_s']:.1f} s = {1000 * large['cli_median_s'] / rs['large']:.2f} "
         f"ms/run (build_report {large['read_median_s']:.1f} s = "
         f"{large['read_ms_per_run']:.2f} ms/run){projected}",
         f"<= {TARGETS['report_s_per_10k_runs']:.0f} s for 10,000 runs",
         verdict(rs["cli_10k_s"] <= TARGETS["report_s_per_10k_runs"])),
        (f"report: build_report, {rs['large']:,} / {rs['small']:,} runs",
         f"{large['read_median_s']:.1f} / {small['read_median_s']:.1f} s = "
         f"x{rs['read_ratio']:.1f} for x{rs['runs_ratio']:.0f} runs; per run "
         f"x{rs['per_run_ratio']:.2f}",
         f"linear (<= x{TARGETS['report_time_per_run']} per run)",
         verdict(rs["per_run_ratio"] <= TARGETS["report_time_per_run"])),
    ]


def print_explore(ex: dict) -> None:
    shapes = list(ex["table"])
    say(f"\ntraining settings: ms per step, median of {ex['rounds']} interleaved epochs "
        f"(x vs keras default)")
    say(f"  {'setting':28s}" + "".join(f"{s:>22s}" for s in shapes))
    for name in ex["table"][shapes[0]]:
        cells = [f"{c['step_ms']:8.2f} x{c['vs_keras_default']:.2f}"
                 for c in (ex["table"][shape][name] for shape in shapes)]
        say(f"  {name:28s}" + "".join(f"{c:>22s}" for c in cells))


def print_summary(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in [("figure", "measured", "target", "result"), *rows])
              for i in range(4)]
    say("\n" + "=" * (sum(widths) + 6))
    say("aesweep benchmark summary (medians; every repetition is in the JSON)")
    for r in [("figure", "measured", "target", "result"), *rows]:
        say("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))
    say("=" * (sum(widths) + 6))


def code_state() -> dict[str, str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

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
    only = options.only.split(",")
    if set(only) - set(SECTIONS):
        parser.error(f"unknown sections {set(only) - set(SECTIONS)}; choose among {SECTIONS}")
    name = "quick" if options.quick else "full"
    profile = {**PROFILES[name], "targets": TARGETS}
    tmp = Path(tempfile.mkdtemp(prefix="aesweep-bench-"))
    started = time.perf_counter()
    res: dict[str, Any] = {
        "profile": name, "config": profile, "targets": TARGETS, "code": code_state(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "loadavg_start": os.getloadavg()},
        "sections": {}, "errors": {},
    }
    say(f"aesweep benchmark ({name}); load average {os.getloadavg()}; tmp {tmp}")
    runs = {"per_step": lambda: sections.per_step(profile, profile["reps"], tmp / "per_step"),
            "explore": lambda: sections.explore(profile, tmp / "explore"),
            "growth": lambda: sections.growth(profile, tmp / "growth"),
            "seed": lambda: sections.seed_article(profile, tmp / "seed"),
            "sweep": lambda: sections.sweep(profile, tmp / "sweep"),
            "launchers": lambda: launchers.launchers(profile, tmp / "launchers"),
            "search": lambda: search.search(profile, tmp / "search"),
            "server_throughput": lambda: sections.server_throughput(profile,
                                                                    tmp / "server_throughput"),
            "report_scale": lambda: report_scale.report_scale(profile, tmp / "report_scale"),
            "ui": lambda: ui.ui(tmp / "ui"),
            "architectures": lambda: architectures.architectures(profile,
                                                                 tmp / "architectures"),
            "quickstart": lambda: quickstart.quickstart(profile, tmp / "quickstart"),
            "cli_latency": lambda: cli_latency.cli_latency(profile, tmp / "cli_latency"),
            "job_overhead": lambda: job_overhead.job_overhead(profile, tmp / "job_overhead")}
    try:
        for section in [s for s in SECTIONS if s in only]:
            clock, load = time.perf_counter(), os.getloadavg()
            try:
                res[section] = runs[section]()
            except Exception as error:  # one broken section does not lose the others
                res["errors"][section] = f"{type(error).__name__}: {error}"
                say(f"  {section} FAILED: {error}")
            res["sections"][section] = {"wall_s": time.perf_counter() - clock,
                                        "loadavg_start": load, "loadavg_end": os.getloadavg()}
            say(f"  [{section}: {res['sections'][section]['wall_s']:.0f} s, load average "
                f"{load[0]:.1f} -> {os.getloadavg()[0]:.1f}]")
    finally:
        res["elapsed_s"] = time.perf_counter() - started
        res["machine"]["loadavg_end"] = os.getloadavg()
        rows = summary_rows(res)
        res["summary"] = [dict(zip(("figure", "measured", "target", "result"), r, strict=True))
                          for r in rows]
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(res, indent=1, default=str) + "\n")
        if not options.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if "explore" in res:
        print_explore(res["explore"])
    print_summary(rows)
    for section, error in res["errors"].items():
        say(f"section {section} failed: {error}")
    say(f"elapsed {res['elapsed_s'] / 60:.1f} min; load average at the end "
        f"{res['machine']['loadavg_end']}; written to {options.out}")
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
