"""The benchmark's measurements, one function per section of ``run.py``'s docstring.

Each returns a JSON-able dict; ``run.py`` prints the summary and writes the file.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from processes import AESWEEP, BENCH, PYTHON, Worker, read_runs, run_cli, workers

GIB = 1024**3
REF = {"n_features": 500, "bottleneck": 50, "batch_size": 64}
SMALL = {"n_features": 100, "bottleneck": 50, "batch_size": 16}
SHAPES = {"reference": REF, "small": SMALL}

# The explore table: plain Keras settings, then the framework's training loop.
PLAIN_SETTINGS = [("keras default", {}), ("keras jit_compile", {"jit_compile": True}),
                  ("keras spe=32", {"steps_per_execution": 32}),
                  ("keras tf.data", {"tfdata": True})]
ENGINE_SETTINGS = [("aesweep 1 step/call", {"xla": False, "steps_per_call": 1}),
                   ("aesweep chunked", {"xla": False}),
                   ("aesweep XLA 1 step/call", {"xla": True, "steps_per_call": 1}),
                   ("aesweep XLA chunked", {"xla": True})]
THREADS = [("XLA chunked, threads 1/1", 1, 1), ("XLA chunked, threads 2/1", 2, 1)]

# The naive loop recomputes everything: no skipping, no checkpoint reuse, no control cache.
NAIVE = ("sweep.skip_finished=false", "trainer.reuse_checkpoints=false",
         "evaluation.cache_controls=false")


def median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def say(*parts: Any) -> None:
    print(*parts, flush=True)


# ---------------------------------------------------------------------------- 1 + 2


def dense_flops(arch: dict, n_train: int, n_val: int) -> dict[str, float]:
    """Dense-layer FLOPs of one epoch: 6 sum(in x out) per training row (2 forward,
    2 input gradient, 2 weight gradient) and 2 sum(in x out) per validation row."""
    s, first = arch["sum_in_out"], arch["first_layer_in_out"]
    return {"formula": 6 * s * n_train + 2 * s * n_val,
            "conservative": (6 * s - 2 * first) * n_train + 2 * s * n_val}


def per_step(profile: dict, reps: int, tmp: Path) -> dict:
    say("\n== 1-2. per-step cost (framework vs plain Keras) and distance to the limit ==")
    with workers(tmp, [("framework", []), ("plain", []), ("peak", [])]) as w:
        archs = {name: w["plain"].call("arch", n_features=s["n_features"],
                                       bottleneck=s["bottleneck"]) for name, s in SHAPES.items()}
        for name, arch in archs.items():
            if not arch["same_as_plain"]:
                raise RuntimeError(f"plain model differs from build_autoencoder ({name}): {arch}")
        sizes = profile["per_step"]
        flops = dense_flops(archs["reference"], sizes["reference"]["n_train"],
                            sizes["reference"]["n_val"])
        rows: dict[str, dict[str, list]] = {s: {"framework": [], "plain": []} for s in SHAPES}
        matmul: list[dict] = []
        for rep in range(reps):
            order = ["framework", "plain"] if rep % 2 == 0 else ["plain", "framework"]
            for shape_name, shape in SHAPES.items():
                for impl in order:
                    # Reference shape: the matmul peak just before and after every fit.
                    before = (w["peak"].call("matmul", n=2048, warmup=2, iters=5)
                              if shape_name == "reference" else None)
                    r = w[impl].call("fit", impl=impl, seed=rep, **shape, **sizes[shape_name])
                    if r["steady_epoch_s"] is None:
                        raise RuntimeError(f"{impl} {shape_name}: < 2 epochs timed: {r}")
                    r["step_ms"] = 1000 * r["steady_epoch_s"] / r["steps_per_epoch"]
                    extra = ""
                    if before is not None:
                        after = w["peak"].call("matmul", n=2048, warmup=2, iters=5)
                        matmul += [before, after]
                        peak = (before["median_gflops"] + after["median_gflops"]) / 2
                        r["peak_gflops"] = peak
                        gemms = w["peak"].call(
                            "gemms", kernels=archs["reference"]["dense_kernels"],
                            batch_size=shape["batch_size"])
                        r["gemms_gflops"] = gemms["median_gflops"]
                        # Against the same products alone: the conservative count is
                        # what both compute.
                        r["share_of_gemms"] = (flops["conservative"] / r["steady_epoch_s"]
                                               / 1e9 / gemms["median_gflops"])
                        r["gflops"] = flops["formula"] / r["steady_epoch_s"] / 1e9
                        r["share"] = r["gflops"] / peak
                        r["share_conservative"] = (flops["conservative"] / r["steady_epoch_s"]
                                                   / 1e9 / peak)
                        extra = (f"; {r['gflops']:.1f} GFLOP/s = {100 * r['share']:.0f}% "
                                 f"of {peak:.0f}; {100 * r['share_of_gemms']:.0f}% of its "
                                 f"GEMMs alone ({gemms['median_gflops']:.0f})")
                    rows[shape_name][impl].append(r)
                    xla = "" if r["xla"] is None else f" (XLA {'on' if r['xla'] else 'off'})"
                    say(f"  rep {rep + 1} {shape_name:9s} {impl}{xla}: epochs "
                        f"{'/'.join(f'{x:.2f}' for x in r['epoch_intervals_s'])} s, median "
                        f"{r['step_ms']:.2f} ms/step{extra}")

    out: dict[str, Any] = {"shapes": {}, "matmul": matmul}
    for shape_name, by_impl in rows.items():
        fw, pl = by_impl["framework"], by_impl["plain"]
        pairs = list(zip(fw, pl, strict=True))
        ratios = [f["steady_epoch_s"] / p["steady_epoch_s"] for f, p in pairs]
        cpu = [f["steady_epoch_cpu_s"] / p["steady_epoch_cpu_s"] for f, p in pairs]
        out["shapes"][shape_name] = {
            **SHAPES[shape_name], **sizes[shape_name], "arch": archs[shape_name],
            "steps_per_epoch": fw[0]["steps_per_epoch"], "framework_xla": fw[0]["xla"],
            "framework": fw, "plain": pl,
            "framework_epoch_s": median([r["steady_epoch_s"] for r in fw]),
            "framework_step_ms": median([r["step_ms"] for r in fw]),
            "plain_step_ms": median([r["step_ms"] for r in pl]),
            "ratios": ratios, "ratio": median(ratios), "cpu_ratio": median(cpu),
        }
    fw, pl = rows["reference"]["framework"], rows["reference"]["plain"]
    out["flops"] = {
        "sum_in_out": archs["reference"]["sum_in_out"],
        "epoch_flops": flops["formula"], "epoch_flops_conservative": flops["conservative"],
        "peak_gflops": median([m["median_gflops"] for m in matmul]),
        "framework_gflops": median([r["gflops"] for r in fw]),
        "plain_gflops": median([r["gflops"] for r in pl]),
        "shares": [r["share"] for r in fw], "share": median([r["share"] for r in fw]),
        "share_conservative": median([r["share_conservative"] for r in fw]),
        "plain_share": median([r["share"] for r in pl]),
        "gemms_gflops": median([r["gemms_gflops"] for r in fw + pl]),
        "gemms_share_of_peak": median([r["gemms_gflops"] / r["peak_gflops"] for r in fw + pl]),
        "share_of_gemms": median([r["share_of_gemms"] for r in fw]),
    }
    return out


# ---------------------------------------------------------------------------- settings


def explore(profile: dict, tmp: Path) -> dict:
    """Every (shape, setting) model is built and warmed up once, then trained one epoch at
    a time, round-robin, so that all settings are measured within seconds of each other."""
    ex = profile["explore"]
    say(f"\n== training settings (training only, ms per step, {ex['rounds']} interleaved "
        f"epochs each) ==")
    plan = [(name, "plain", "plain", settings) for name, settings in PLAIN_SETTINGS]
    plan += [(name, "framework", "framework", settings) for name, settings in ENGINE_SETTINGS]
    plan += [(name, name, "framework", {"xla": True}) for name, *_ in THREADS]
    specs = [("plain", []), ("framework", [])]
    specs += [(name, ["--intra", str(a), "--inter", str(b)]) for name, a, b in THREADS]
    runs: dict[str, dict[str, list]] = {s: {p[0]: [] for p in plan} for s in SHAPES}
    warmup: dict[str, dict[str, float]] = {s: {} for s in SHAPES}
    with workers(tmp, specs) as w:
        for shape_name, shape in SHAPES.items():
            for name, worker, impl, settings in plan:
                warmup[shape_name][name] = w[worker].call(
                    "prepare", key=f"{shape_name}/{name}", impl=impl, seed=0,
                    settings=settings, warmup=ex["warmup"], n_train=ex["rows"],
                    **shape)["warmup_s"]
        for rnd in range(ex["rounds"]):
            order = plan[rnd % len(plan):] + plan[:rnd % len(plan)]
            if rnd % 2:
                order.reverse()
            for shape_name in SHAPES:
                for name, worker, _, _ in order:
                    runs[shape_name][name].append(
                        w[worker].call("epoch", key=f"{shape_name}/{name}"))
            say(f"  round {rnd + 1} done")
    table: dict[str, dict[str, Any]] = {}
    for shape_name, by_name in runs.items():
        base = median([r["step_ms"] for r in by_name["keras default"]])
        table[shape_name] = {}
        for name, rs in by_name.items():
            ms = median([r["step_ms"] for r in rs])
            table[shape_name][name] = {
                "step_ms": ms, "step_ms_rounds": [r["step_ms"] for r in rs],
                "cpu_step_ms": median([r["cpu_step_ms"] for r in rs]),
                "vs_keras_default": ms / base, "warmup_s": warmup[shape_name][name]}
    return {"rows": ex["rows"], "rounds": ex["rounds"], "table": table,
            "settings": {name: settings for name, _, _, settings in plan}}


# ---------------------------------------------------------------------------- growth


def growth(profile: dict, tmp: Path) -> dict:
    g = profile["growth"]
    say(f"\n== 6. growth: rows x 500 features, epochs and fits per size {g['plan']} ==")
    sizes: dict[str, Any] = {}
    for n, (epochs, fits) in g["plan"].items():
        with workers(tmp, [(f"growth-{n}", [])]) as w:  # one process per size: clean peaks
            worker: Worker = w[f"growth-{n}"]
            load = worker.call("load", n_rows=int(n), n_features=500)
            runs = [worker.call("grow", epochs=epochs, bottleneck=50, batch_size=64, seed=rep)
                    for rep in range(fits)]
        steady = [t for r in runs for t in r["epoch_s"][1:]]  # the first epoch compiles
        sizes[n] = {**load, "runs": runs, "steady_epochs_s": steady,
                    "epoch_s": median(steady),
                    "first_epoch_s": median([r["epoch_s"][0] for r in runs]),
                    "peak_rss_fit": median([r["peak_rss_fit"] for r in runs]),
                    "xla": runs[0]["xla"]}
        s = sizes[n]
        say(f"  {int(n):>9,} rows: epoch {s['epoch_s']:.2f} s (median of {len(steady)}; first "
            f"{s['first_epoch_s']:.2f} s), peak RSS {s['peak_rss_fit'] / GIB:.2f} GiB "
            f"(data {s['data_bytes'] / GIB:.2f} GiB)")
    (n0, small), (n1, mid), (n2, big) = ((int(n), sizes[n]) for n in g["plan"])
    per_row = [s["epoch_s"] / n for n, s in ((n0, small), (n1, mid), (n2, big))]
    data_per_row = 500 * 4
    slope = (big["peak_rss_fit"] - mid["peak_rss_fit"]) / (n2 - n1)
    return {
        "sizes": sizes, "data_bytes_per_row": data_per_row,
        "epoch_s_per_row": per_row,
        "time_per_row_ratio": per_row[2] / per_row[0],
        "rss_bytes_per_row_top": slope, "rss_copies_of_data": slope / data_per_row,
        "time_linear": per_row[2] / per_row[0] <= profile["targets"]["growth_time_per_row"],
        "memory_linear": slope <= profile["targets"]["growth_bytes_per_row"] * data_per_row,
    }


# ---------------------------------------------------------------------------- CLI jobs


def seed_article(profile: dict, tmp: Path) -> dict:
    s = profile["seed"]
    say(f"\n== 4-5. seed_article job: overhead and peak RSS ({s['reps']} cold at "
        f"{s['epochs'] or 50} epochs, {s['reps']} warm at {s['warm_epochs']}) ==")
    out: dict[str, Any] = {}
    for kind in ("cold", "warm"):
        reps = []
        for rep in range(s["reps"]):
            work = tmp / f"seed-{kind}-{rep}"
            result = work / "timed.json"
            epochs = s["epochs"] if kind == "cold" else s["warm_epochs"]
            cmd = [PYTHON, str(BENCH / "timed_cli.py"), *(["--warm-up"] if kind == "warm" else []),
                   str(result), "+experiment=seed_article",
                   *([f"trainer.epochs={epochs}"] if epochs else []),
                   f"tracking.uri=sqlite:///{work}/mlflow.db", f"hydra.run.dir={work}/run"]
            wall = run_cli(cmd, work)
            timed = json.loads(result.read_text())
            finished = [r for r in timed["runs"] if r["status"] == "FINISHED"]
            if len(finished) != 1:
                raise RuntimeError(f"seed_article: expected one FINISHED run: {timed['runs']}")
            train = finished[0]["metrics"]["train_seconds"]
            r = {"process_wall_s": wall, "import_s": timed["import_s"],
                 "warm_up_s": timed["warm_up_s"], "job_s": timed["job_s"],
                 "train_seconds": train, "overhead_s": timed["job_s"] - train,
                 "epochs": int(finished[0]["params"]["trainer.epochs"]),
                 "maxrss_bytes": timed["maxrss_bytes"],
                 "xla": finished[0]["tags"].get("aesweep.jit_compile")}
            r["overhead_share"] = r["overhead_s"] / r["job_s"]
            reps.append(r)
            say(f"  {kind} {rep + 1}: job {r['job_s']:.1f} s ({r['epochs']} epochs; imports "
                f"{r['import_s']:.1f} s excluded), train {train:.1f} s, overhead "
                f"{r['overhead_s']:.1f} s ({100 * r['overhead_share']:.1f}%), peak RSS "
                f"{r['maxrss_bytes'] / GIB:.2f} GiB")
        out[kind] = {"reps": reps, "overhead_s": median([r["overhead_s"] for r in reps]),
                     "train_seconds": median([r["train_seconds"] for r in reps]),
                     "job_s": median([r["job_s"] for r in reps]),
                     "overhead_share": median([r["overhead_share"] for r in reps]),
                     "maxrss_bytes": median([r["maxrss_bytes"] for r in reps])}
    # A warm job's overhead against the cold runs' training at the job's real epoch count.
    warm, train = out["warm"]["overhead_s"], out["cold"]["train_seconds"]
    out["warm"]["share_at_cold_epochs"] = warm / (warm + train)
    return out


def sweep(profile: dict, tmp: Path) -> dict:
    s = profile["sweep"]
    bottlenecks, epochs = s["bottlenecks"], s["epochs"]
    grid = [(b, e) for b in bottlenecks for e in epochs]
    data = list(s["data"])
    say(f"\n== 3. sweep: bottleneck {bottlenecks} x epochs {epochs} ({len(grid)} jobs; "
        f"{' '.join(data)}) ==")
    work = tmp / "sweep"
    r: dict[str, Any] = {}
    for kind in ("multirun", "naive"):
        uri = f"sqlite:///{work / kind}/mlflow.db"
        if kind == "multirun":
            cmd = [AESWEEP, "-m", *data,
                   f"architecture.bottleneck={','.join(map(str, bottlenecks))}",
                   f"trainer.epochs={','.join(map(str, epochs))}", f"tracking.uri={uri}",
                   f"hydra.sweep.dir={work / kind}/sweep"]
            wall = run_cli(cmd, work / kind / "cwd")
        else:
            wall = 0.0
            for i, (b, e) in enumerate(grid):
                cmd = [AESWEEP, *data, f"architecture.bottleneck={b}", f"trainer.epochs={e}",
                       *NAIVE, f"tracking.uri={uri}", f"hydra.run.dir={work / kind}/run-{i}"]
                wall += run_cli(cmd, work / kind / f"cwd-{i}")
        runs = [x for x in read_runs(uri) if x["tags"].get("aesweep.role") != "sweep"]
        finished = [x for x in runs if x["status"] == "FINISHED"]
        if len(finished) != len(grid):
            raise RuntimeError(f"sweep {kind}: {len(finished)} of {len(grid)} runs finished")
        trained = sum(int(x["params"]["trainer.epochs"])
                      - int(x["tags"].get("resumed_from_epochs", 0)) for x in finished)
        r[kind] = {"wall_s": wall, "runs": len(finished), "epochs_trained": trained,
                   "train_seconds_sum": sum(x["metrics"]["train_seconds"] for x in finished)}
        say(f"  {kind:8s}: {wall:.1f} s wall, {r[kind]['train_seconds_sum']:.1f} s in "
            f"training, {trained} epochs trained")
    return {"bottlenecks": bottlenecks, "epochs": epochs, "jobs": len(grid), "data": data,
            **r, "ratio": r["multirun"]["wall_s"] / r["naive"]["wall_s"]}


# ---------------------------------------------------------------------------- 7 server


def server_throughput(profile: dict, tmp: Path) -> dict:
    """``server_load.py --start``: a TrackingServer (PostgreSQL, basic auth, 1 worker) in
    ``tmp``, loaded by concurrent clients; in its own process (the driver imports no MLflow)."""
    s = profile["server_throughput"]
    say(f"\n== 7. tracking server throughput: {s['clients']} clients for {s['seconds']} s ==")
    out = tmp / "load.json"
    run_cli([PYTHON, str(BENCH / "server_load.py"), "--start", str(tmp / "server"),
             "--clients", str(s["clients"]), "--seconds", str(s["seconds"]),
             "--json", str(out)], tmp)
    result = json.loads(out.read_text())
    lat = result["latency_s"]
    say(f"  {result['jobs']} jobs in {result['elapsed_s']:.1f} s = {result['jobs_per_s']:.2f} "
        f"jobs/s; latency p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s; server CPU "
        f"{result['server_cpu_s_per_job']:.3f} s/job; lost {result['check']['lost']}")
    for name, case in result["projection"]["cases"].items():
        say(f"  100 nodes x 2 jobs of {case['job_s']:.0f} s ({name}): need "
            f"{case['required_jobs_per_s']:.2f} jobs/s; measured / needed = "
            f"{case['capacity_ratio']:.2f}{' (saturates)' if case['saturates'] else ''}")
    return result
