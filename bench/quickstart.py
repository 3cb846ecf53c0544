"""The ``quickstart`` section (issue 14): small sweeps at the speed of their training.

1. ``make sweep`` after install: the quickstart sweep (``aesweep -m +experiment=quickstart``,
   6 jobs, exactly what ``make sweep`` runs, into a scratch ``paths.root``), a fresh
   process each repetition, the cached empty store already built (``make install`` builds
   it). Wall time, process start and imports included; then, from its runs, the sum of
   ``train_seconds`` (training, tracing included) and the median ``overhead_seconds`` of
   its jobs after the first (a warm multirun's jobs), if logged. Goal: wall <= 20 s.
2. A new SQLite store: ``open_store`` on a new file in a fresh process, with MLflow's
   migrations (no usable cache) vs as a copy of the cached empty store, interleaved.

Suggested profiles: full ``{"reps": 3, "store_reps": 5}``, quick ``{"reps": 1,
"store_reps": 1}``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from job_overhead import OVERHEAD
from launchers import run_timed, say
from processes import AESWEEP, BENCH, PYTHON, env

GOAL_WALL_S = 20.0
GOAL_OVERHEAD_S = 0.3

_OPEN = """
import sys, time
from omegaconf import OmegaConf
began = time.perf_counter()
from aesweep.tracking.store import open_store
imported = time.perf_counter()
open_store(OmegaConf.create({"uri": f"sqlite:///{sys.argv[1]}", "experiment": "x",
                             "artifact_location": None}))
print(time.perf_counter() - imported)
"""


def _runs(root: Path) -> list[dict[str, Any]]:
    """The sweep's job runs, as ``job_overhead.py --read`` gives them (in a fresh process:
    the driver imports no MLflow)."""
    out = subprocess.run([PYTHON, str(BENCH / "job_overhead.py"), "--read",
                          f"sqlite:///{root / 'mlflow.db'}"], env=env(), capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def one_sweep(tmp: Path, rep: int) -> dict[str, Any]:
    root = tmp / f"sweep-{rep}"
    proc = run_timed([AESWEEP, "-m", "+experiment=quickstart", f"paths.root={root}"],
                     tmp / f"sweep-{rep}-cwd", 600)
    runs = _runs(root)
    metrics = [r["metrics"] for r in runs]
    warm = [m[OVERHEAD] for m in metrics[1:] if OVERHEAD in m]
    return {"wall_s": proc["wall_s"], "jobs": len(runs),
            "finished": sum(r["status"] == "FINISHED" for r in runs),
            "train_s": sum(m.get("train_seconds", 0.0) for m in metrics),
            "overhead_s": [m.get(OVERHEAD) for m in metrics],
            "warm_overhead_median_s": statistics.median(warm) if warm else None}


def open_seconds(db: Path, cache: Path) -> float:
    environment = {**env(), "AESWEEP_CACHE_DIR": str(cache)}
    out = subprocess.run([PYTHON, "-c", _OPEN, str(db)], env=environment,
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def new_store(p: dict, tmp: Path) -> dict[str, Any]:
    """Seconds to open a new store after the imports: migrated by MLflow vs seeded."""
    tmp.mkdir(parents=True, exist_ok=True)
    blocked = tmp / "no-cache"
    blocked.write_text("")  # a cache directory under a file: nothing can be cached
    cache = tmp / "cache"
    open_seconds(tmp / "warm-up.db", cache)  # builds the cache, as make install does
    migrated, seeded = [], []
    for rep in range(p["store_reps"]):
        migrated.append(open_seconds(tmp / f"migrated-{rep}.db", blocked / "cache"))
        seeded.append(open_seconds(tmp / f"seeded-{rep}.db", cache))
    m, s = statistics.median(migrated), statistics.median(seeded)
    return {"migrated_s": migrated, "seeded_s": seeded, "migrated_median_s": m,
            "seeded_median_s": s, "ratio": s / m}


def quickstart(profile: dict, tmp: Path) -> dict[str, Any]:
    p = profile["quickstart"]
    tmp.mkdir(parents=True, exist_ok=True)
    store = new_store(p, tmp / "store")
    say(f"  new SQLite store: MLflow's migrations {store['migrated_median_s']:.2f} s, "
        f"a copy of the cached one {store['seeded_median_s']:.2f} s "
        f"({store['ratio']:.2f}x)")
    sweeps = []
    for rep in range(p["reps"]):
        began = time.perf_counter()
        sweeps.append(one_sweep(tmp, rep))
        s = sweeps[-1]
        say(f"  make sweep #{rep + 1}: {s['wall_s']:.1f} s wall, {s['finished']}/{s['jobs']} "
            f"FINISHED, training {s['train_s']:.1f} s, warm overhead "
            f"{s['warm_overhead_median_s']} s per job ({time.perf_counter() - began:.0f} s)")
    wall = statistics.median(s["wall_s"] for s in sweeps)
    warm = [s["warm_overhead_median_s"] for s in sweeps if s["warm_overhead_median_s"] is not None]
    overhead = statistics.median(warm) if warm else None
    return {"store": store, "sweeps": sweeps, "wall_s": wall,
            "train_s": statistics.median(s["train_s"] for s in sweeps),
            "warm_overhead_s": overhead, "ok_wall": wall <= GOAL_WALL_S,
            "ok_overhead": overhead is not None and overhead <= GOAL_OVERHEAD_S}
