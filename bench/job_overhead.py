"""The ``job_overhead`` section (issue 14): what aesweep and MLflow cost a job of a warm sweep.

One ``aesweep -m +experiment=quickstart`` (6 jobs) runs as a fresh process in a fresh
directory with its own ``paths.root``. Each job logs ``overhead_seconds``: its wall time from
the start of its task to its last logging call, minus its training and its downstream fits
and tests (see the README's metrics). The runs are read back through ``MlflowClient`` in a
fresh process (this file run as a script: the driver imports no MLflow), in the order the
jobs started. The first job is cold (first Keras model, first logged model, lazy imports);
the figure held to the goal is the median over the others, warm, as a sweep's later jobs
run. Also reported: each job's wall time between runs (the end of one run to the start of
the next: Hydra's own per-job work and what a job does before its run starts), and the
sweep's wall time, process start included.

A profile for ``bench/run.py`` (not wired in here)::

    "job_overhead": {"overrides": ["+experiment=quickstart"], "timeout_s": 1200},

and for ``--quick``, the same sweep at fewer epochs::

    "job_overhead": {"overrides": ["+experiment=quickstart", "trainer.epochs=1,2"],
                     "timeout_s": 600},
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from launchers import run_timed, say
from processes import AESWEEP, PYTHON, env

GOAL_S = 0.3  # median overhead per warm job, seconds
OVERHEAD = "overhead_seconds"  # aesweep.names.OVERHEAD_SECONDS (not imported: no aesweep here)


def read_jobs(uri: str) -> list[dict[str, Any]]:
    """Every job run (a sweep's children) of the store's ``aesweep`` experiment, in the
    order they started: status, start and end (epoch ms) and metrics."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("aesweep")
    runs = client.search_runs([experiment.experiment_id], "tags.`aesweep.job_num` != ''",
                              max_results=10_000, order_by=["attributes.start_time ASC"])
    return [{"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
             "start_ms": r.info.start_time, "end_ms": r.info.end_time,
             "metrics": dict(r.data.metrics)} for r in runs]


def job_overhead(profile: dict, tmp: Path) -> dict[str, Any]:
    p = profile["job_overhead"]
    root = tmp / "root"
    cmd = [AESWEEP, "-m", *p["overrides"], f"paths.root={root}"]
    say(f"  {' '.join(cmd[1:])}")
    proc = run_timed(cmd, tmp / "cwd", p["timeout_s"])  # raises if it fails
    out = subprocess.run([PYTHON, __file__, "--read", f"sqlite:///{root / 'mlflow.db'}"], env=env(),
                         capture_output=True, text=True, check=True).stdout
    jobs = json.loads(out.strip().splitlines()[-1])
    if not jobs or any(j["status"] != "FINISHED" or OVERHEAD not in j["metrics"]
                       for j in jobs):
        raise RuntimeError(f"job_overhead: a job did not finish with {OVERHEAD}: {jobs}")
    overheads = [j["metrics"][OVERHEAD] for j in jobs]
    gaps = [(b["start_ms"] - a["end_ms"]) / 1000 for a, b in itertools.pairwise(jobs)]
    warm = statistics.median(overheads[1:]) if len(overheads) > 1 else overheads[0]
    result = {"cmd": cmd[1:], "sweep_wall_s": proc["wall_s"], "jobs": len(jobs),
              "overhead_s": overheads, "cold_overhead_s": overheads[0],
              "warm_overhead_s": warm, "between_runs_s": gaps,
              "between_runs_median_s": statistics.median(gaps) if gaps else None,
              "train_s": [j["metrics"]["train_seconds"] for j in jobs],
              "goal_s": GOAL_S, "ok": warm <= GOAL_S}
    say(f"  overhead per job: warm {warm:.3f} s (median of {len(overheads) - 1}), cold "
        f"{overheads[0]:.2f} s; between runs {result['between_runs_median_s'] or 0:.2f} s; "
        f"sweep {proc['wall_s']:.0f} s; goal <= {GOAL_S} s: {'ok' if result['ok'] else 'NOT'}")
    return result


if __name__ == "__main__":
    if sys.argv[1] == "--read":  # by job_overhead(): read a store, print one JSON line
        print(json.dumps(read_jobs(sys.argv[2])))
    else:  # by hand: python bench/job_overhead.py TMP [aesweep override...]
        overrides = sys.argv[2:] or ["+experiment=quickstart"]
        figures = job_overhead({"job_overhead": {"overrides": overrides, "timeout_s": 1800}},
                               Path(sys.argv[1]))
        print(json.dumps(figures, indent=1))
