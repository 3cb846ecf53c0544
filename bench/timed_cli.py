"""Run the ``aesweep`` command in this process, timing the job without process start-up
and imports, then read the runs it logged through ``MlflowClient``.

    python bench/timed_cli.py RESULT.json aesweep-arg...

The heavy modules a job imports (TensorFlow, Keras, MLflow, scikit-learn, matplotlib) are
imported first and excluded from ``job_s``; whatever a job still imports lazily counts as
its overhead. ``maxrss_bytes`` is the process's peak RSS (imports included).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PRELOAD = ("tensorflow", "keras", "mlflow", "mlflow.keras", "mlflow.models", "sklearn",
           "sklearn.linear_model", "sklearn.decomposition", "matplotlib.pyplot",
           "aesweep", "aesweep.app", "aesweep.job", "aesweep.tracking", "aesweep.resume",
           "aesweep.plots")


def read_runs(uri: str) -> list[dict]:
    """Every run in every experiment of the store: status, metrics, tags."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, max_results=10_000) if ids else []
    return [{"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
             "metrics": dict(r.data.metrics), "tags": dict(r.data.tags),
             "params": dict(r.data.params)} for r in runs]


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    imported = time.perf_counter()
    sys.argv = ["aesweep", *args]
    code: int | str | None = 0
    try:
        importlib.import_module("aesweep.app").main()
    except SystemExit as exit_:
        code = exit_.code
    finished = time.perf_counter()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    uri = next((a.partition("=")[2] for a in args if a.startswith("tracking.uri=")), None)
    runs = read_runs(uri) if uri else []
    with open(out, "w") as f:
        json.dump({"import_s": imported - started, "job_s": finished - imported,
                   "exit_code": code, "maxrss_bytes": maxrss, "runs": runs}, f)
    sys.exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    main()
