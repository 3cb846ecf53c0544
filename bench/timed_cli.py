"""Run the ``aesweep`` command in this process, timing the job without process start-up
and imports, then read the runs it logged through ``MlflowClient``.

    python bench/timed_cli.py [--warm-up] RESULT.json aesweep-arg...

The heavy libraries a job imports (TensorFlow, Keras, MLflow, scikit-learn, matplotlib) are
imported first and excluded from ``job_s``: a cold job, as a single run pays it after the
imports. With ``--warm-up``, a small job (default dataset, 1 epoch, experiment ``warmup``)
runs first in the same process and store: the timed job then runs as a sweep's later jobs
do, with every lazy import, first-call set-up and the store's tables already done.
``maxrss_bytes`` is the process's peak RSS (imports included).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

PRELOAD = ("aesweep.runtime", "tensorflow", "keras", "mlflow", "mlflow.keras", "mlflow.models",
           "sklearn", "sklearn.linear_model", "sklearn.decomposition", "matplotlib.pyplot",
           "aesweep", "aesweep.app", "aesweep.job", "aesweep.task", "aesweep.tracking.runs",
           "aesweep.tracking.store", "aesweep.tracking.resume", "aesweep.plots")


def read_runs(uri: str) -> list[dict]:
    """Every run in every experiment of the store: status, metrics, params, tags."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    runs = client.search_runs(list(experiments), max_results=10_000) if experiments else []
    return [{"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
             "experiment": experiments[r.info.experiment_id],
             "metrics": dict(r.data.metrics), "tags": dict(r.data.tags),
             "params": dict(r.data.params)} for r in runs]


def run_aesweep(args: list[str]) -> int | str | None:
    sys.argv = ["aesweep", *args]
    try:
        importlib.import_module("aesweep.app").main()
    except SystemExit as exit_:
        return exit_.code
    return 0


def main() -> None:
    argv = sys.argv[1:]
    warm_up = argv[0] == "--warm-up"
    out, args = argv[warm_up:][0], argv[warm_up:][1:]
    uri = next((a.partition("=")[2] for a in args if a.startswith("tracking.uri=")), None)
    started = time.perf_counter()
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    imported = time.perf_counter()
    if warm_up:
        run_dir = next(a.partition("=")[2] for a in args if a.startswith("hydra.run.dir="))
        code = run_aesweep(["trainer.epochs=1", "tracking.experiment=warmup",
                            f"tracking.uri={uri}", f"hydra.run.dir={run_dir}-warmup"])
        if code != 0:
            sys.exit(f"warm-up job exited {code}")
    timed = time.perf_counter()
    code = run_aesweep(args)
    finished = time.perf_counter()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    runs = [r for r in read_runs(uri) if r["experiment"] != "warmup"] if uri else []
    with open(out, "w") as f:
        json.dump({"import_s": imported - started, "warm_up_s": timed - imported,
                   "job_s": finished - timed, "exit_code": code, "maxrss_bytes": maxrss,
                   "runs": runs}, f)
    sys.exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    main()
