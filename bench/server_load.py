"""Load on a tracking server: concurrent clients, each logging complete job results for a
bounded time, as a cluster's nodes would; then a check that nothing was lost.

    .venv/bin/python bench/server_load.py --start /tmp/srv --clients 32 --seconds 60
    .venv/bin/python bench/server_load.py --url http://HOST:5001 --seconds 20  # MLFLOW_TRACKING_*

One job, as aesweep logs one: a run under its sweep's parent (tag ``mlflow.parentRunId``),
15 params in one batch, 2 metrics per epoch for 10 epochs (one ``log_batch`` per epoch, as
the Keras callback does), 40 final metrics in one batch, a text, a JSON and a PNG artifact
(uploaded through the server), then FINISHED: 18 requests. A job's latency is the time
from its run's creation to FINISHED.

Clients are threads of one process, each with its own ``MlflowClient``: a client spends
its time waiting on the server, and 32 processes would each import MLflow (~150 MB,
seconds of CPU) and, on a small machine, take the CPU the server is measured on. The
client process's CPU time per job is reported, to tell whether the clients were the
bottleneck. ``run_load`` is what tests/test_server_load.py and the bench section call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import struct
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PARAMS, EPOCHS, FINAL_METRICS = 15, 10, 40
EPOCH_KEYS = ("loss", "val_loss")
ARTIFACTS = ("summary.txt", "result.json", "curve.png")
REQUESTS_PER_JOB = 1 + 1 + EPOCHS + 1 + len(ARTIFACTS) + 1 + 1  # + the artifact URI lookup
# 100 nodes, 2 jobs at a time each; a job of the quickstart's size and the seed_article's.
NODES, JOBS_PER_NODE = 100, 2
JOB_SECONDS = {"quickstart": 5.0, "seed_article": 180.0}


def tiny_png(size: int = 16) -> bytes:
    """A valid grayscale PNG (a gradient), without an imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\0" + bytes((x * y) % 256 for x in range(size)) for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@contextlib.contextmanager
def credentials(username: str, password: str, clients: int) -> Iterator[None]:
    """MLflow's client reads its credentials from the environment at every request: set
    them for the load, then put things back. Its HTTP pool keeps 10 connections unless
    told: give each client thread one (a fresh session, as the old one is cached). And
    no "View run at" line per run."""
    from mlflow.utils import request_utils

    wanted = {"MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password,
              "MLFLOW_HTTP_POOL_MAXSIZE": str(max(clients, 10)),
              "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    request_utils._cached_get_request_session.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        request_utils._cached_get_request_session.cache_clear()


def log_job(client: Any, experiment_id: str, parent_id: str, name: str, png: Path) -> str:
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    run_id = client.create_run(experiment_id, run_name=name,
                               tags={MLFLOW_PARENT_RUN_ID: parent_id}).info.run_id
    client.log_batch(run_id, params=[Param(f"param_{i}", str(i * 7)) for i in range(PARAMS)])
    for epoch in range(EPOCHS):
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(key, 1.0 / (epoch + 1 + k), now, epoch)
                                          for k, key in enumerate(EPOCH_KEYS)])
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(f"final_{i}", i / FINAL_METRICS, now, 0)
                                      for i in range(FINAL_METRICS)])
    client.log_text(run_id, f"{name}: a job's summary\n" * 20, ARTIFACTS[0])
    client.log_dict(run_id, {"job": name, "scores": list(range(50))}, ARTIFACTS[1])
    client.log_artifact(run_id, str(png))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(processes: list[Any]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(Exception):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def run_load(url: str, username: str, password: str, clients: int = 32,
             seconds: float = 20.0, *, verify: bool = True,
             server_processes: list[Any] | None = None) -> dict[str, Any]:
    """``clients`` threads log jobs to ``url`` for ``seconds`` (jobs under way then are
    finished); jobs/s, latency percentiles, errors, and (``verify``) what the server holds
    of every job. ``server_processes`` (psutil) adds the server's CPU time per job."""
    from mlflow.tracking import MlflowClient

    with credentials(username, password, clients), tempfile.TemporaryDirectory() as scratch:
        png = Path(scratch) / ARTIFACTS[2]
        png.write_bytes(tiny_png())
        setup = MlflowClient(url)
        experiment = f"aesweep-load-{uuid.uuid4().hex[:8]}"
        experiment_id = setup.create_experiment(experiment)
        parents = [setup.create_run(experiment_id, run_name=f"sweep-{i}").info.run_id
                   for i in range(clients)]
        latencies: list[list[float]] = [[] for _ in range(clients)]
        run_ids: list[list[str]] = [[] for _ in range(clients)]
        errors: list[str] = []
        start = threading.Barrier(clients + 1)

        def client_loop(index: int) -> None:
            client = MlflowClient(url)
            start.wait()
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    run_ids[index].append(log_job(client, experiment_id, parents[index],
                                                  f"job-{index}-{len(run_ids[index])}", png))
                except Exception as error:  # counted, and the load goes on
                    errors.append(f"{type(error).__name__}: {str(error)[:200]}")
                    continue
                latencies[index].append(time.perf_counter() - began)

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        server_before = cpu_seconds(server_processes or [])
        deadline = time.perf_counter() + seconds
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = cpu_seconds(server_processes or []) - server_before
        for parent in parents:
            setup.set_terminated(parent, "FINISHED")
        every = [t for ts in latencies for t in ts]
        jobs = len(every)
        client_cpu = (cpu_after.ru_utime + cpu_after.ru_stime
                      - cpu_before.ru_utime - cpu_before.ru_stime)
        result: dict[str, Any] = {
            "url": url, "experiment": experiment, "clients": clients, "seconds": seconds,
            "elapsed_s": elapsed, "jobs": jobs, "errors": len(errors),
            "error_samples": errors[:5], "jobs_per_s": jobs / elapsed,
            "requests_per_job": REQUESTS_PER_JOB,
            "requests_per_s": jobs * REQUESTS_PER_JOB / elapsed,
            "latency_s": {"p50": percentile(every, 0.5), "p95": percentile(every, 0.95),
                          "max": max(every, default=None)},
            "jobs_per_client": {"min": min(map(len, latencies)),
                                "max": max(map(len, latencies))},
            "client_cpu_s_per_job": client_cpu / jobs if jobs else None,
            "server_cpu_s_per_job": (server_cpu / jobs if jobs and server_processes
                                     else None),
        }
        if verify:
            result["check"] = check(setup, experiment_id, parents,
                                    [r for rs in run_ids for r in rs])
        return result


def check(client: Any, experiment_id: str, parents: list[str],
          run_ids: list[str]) -> dict[str, Any]:
    """What the server holds of every job: FINISHED, its params and final metrics, 10
    points of each per-epoch metric, its three artifacts. ``lost`` counts jobs short of
    any of these, plus runs missing from (or extra in) the experiment."""
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    def problems(run_id: str) -> list[str]:
        run = client.get_run(run_id)
        found = []
        if run.info.status != "FINISHED":
            found.append(f"status {run.info.status}")
        if len(run.data.params) != PARAMS:
            found.append(f"{len(run.data.params)} params")
        if len(run.data.metrics) != FINAL_METRICS + len(EPOCH_KEYS):
            found.append(f"{len(run.data.metrics)} metrics")
        if run.data.tags.get(MLFLOW_PARENT_RUN_ID) not in parents:
            found.append("no parent")
        for key in EPOCH_KEYS:
            steps = sorted(m.step for m in client.get_metric_history(run_id, key))
            if steps != list(range(EPOCHS)):
                found.append(f"{key} steps {steps}")
        names = {f.path for f in client.list_artifacts(run_id)}
        found += [f"no {name}" for name in ARTIFACTS if name not in names]
        return found

    with ThreadPoolExecutor(8) as pool:
        found = dict(zip(run_ids, pool.map(problems, run_ids), strict=True))
    bad = {run_id: p for run_id, p in found.items() if p}
    stored: set[str] = set()
    token = None
    while True:  # every run of the experiment, page by page
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        stored |= {r.info.run_id for r in page}
        token = page.token
        if not token:
            break
    expected = set(run_ids) | set(parents)
    missing, extra = expected - stored, stored - expected
    return {"runs_checked": len(run_ids), "bad_runs": len(bad),
            "bad_samples": dict(list(bad.items())[:5]), "missing_from_search": len(missing),
            "unexpected_runs": len(extra), "lost": len(bad) + len(missing) + len(extra)}


def projection(jobs_per_s: float) -> dict[str, Any]:
    """What 100 nodes running 2 jobs at a time ask of the tracking path, for a short and a
    long job, and the measured capacity over it (< 1: the server saturates)."""
    out = {}
    for name, job_s in JOB_SECONDS.items():
        required = NODES * JOBS_PER_NODE / job_s
        out[name] = {"job_s": job_s, "required_jobs_per_s": required,
                     "capacity_ratio": jobs_per_s / required,
                     "saturates": jobs_per_s < required}
    return {"nodes": NODES, "jobs_per_node": JOBS_PER_NODE, "cases": out}


def describe(result: dict[str, Any]) -> str:
    lat = result["latency_s"]
    text = (f"{result['clients']} clients, {result['elapsed_s']:.1f} s: {result['jobs']} jobs "
            f"= {result['jobs_per_s']:.1f} jobs/s (~{result['requests_per_s']:.0f} requests/s); "
            f"job latency p50 {lat['p50'] or 0:.2f} s, p95 {lat['p95'] or 0:.2f} s, max "
            f"{lat['max'] or 0:.2f} s; errors {result['errors']}")
    if "check" in result:
        text += f"; lost {result['check']['lost']} of {result['check']['runs_checked']}"
    return text


def open_for_postgres(path: Path) -> None:
    """Under root, PostgreSQL runs as 'postgres', which must walk down to ``path``: let it
    through the private (0700) temporary directories above it, search only. Directories
    outside the temporary tree are left as they are (TrackingServer names any in the way)."""
    if os.geteuid() != 0:
        return
    tmp = Path(tempfile.gettempdir()).resolve()
    for directory in [path.resolve(), *path.resolve().parents]:
        if directory == tmp or tmp not in directory.parents:
            break
        directory.chmod(directory.stat().st_mode | 0o001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--start", type=Path, metavar="DIR",
                       help="start a TrackingServer in DIR (fsync off) and load it")
    where.add_argument("--url", help="load a running server (MLFLOW_TRACKING_USERNAME/PASSWORD)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="write the figures here")
    options = parser.parse_args()
    if options.url:
        result = run_load(options.url, os.environ.get("MLFLOW_TRACKING_USERNAME", ""),
                          os.environ.get("MLFLOW_TRACKING_PASSWORD", ""), options.clients,
                          options.seconds)
    else:
        from aesweep.server import TrackingServer

        options.start.mkdir(parents=True, exist_ok=True)
        open_for_postgres(options.start)
        with TrackingServer(options.start / "server", durable=False) as server:
            log_start = server.log_path.stat().st_size
            result = run_load(server.url, server.username, server.password, options.clients,
                              options.seconds, server_processes=server.processes())
            result["server"] = {"workers": 1, "cpus": os.cpu_count(),
                                "access_log_lines": _count_requests(server.log_path,
                                                                    log_start)}
    result["projection"] = projection(result["jobs_per_s"])
    print(describe(result), flush=True)
    if options.json:
        options.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if not result["errors"] and not result.get("check", {}).get("lost") else 1


def _count_requests(log: Path, offset: int) -> int:
    """Requests the server answered since ``offset`` (uvicorn's access log lines)."""
    with log.open("rb") as file:
        file.seek(offset)
        return sum(1 for line in file if b'HTTP/1.1" ' in line)


if __name__ == "__main__":
    sys.exit(main())
