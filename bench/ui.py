"""The ``ui`` section: how fast `make ui` answers and how much memory it holds, against
MLflow's stock ``mlflow ui`` (job execution on, its default workers) in the same run.

The goals (issue 12): the UI answers within 15 s and holds at most 600 MiB in all its
processes on this 2-core machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GOAL_SECONDS, GOAL_MIB = 15.0, 600.0
SETTLE_S = 5.0  # let workers finish starting before reading their memory
LIMIT_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _store(tmp: Path) -> Path:
    """A store with aesweep's experiment, as `make sweep` leaves it."""
    from omegaconf import OmegaConf

    from aesweep.tracking.store import open_store

    db = tmp / "mlflow.db"
    open_store(OmegaConf.create({"uri": f"sqlite:///{db}", "experiment": "aesweep",
                                 "artifact_location": None}))
    return db


def _tree_rss_mib(pid: int) -> tuple[float, int]:
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    rss = 0
    for p in procs:
        try:
            rss += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return rss / 2**20, len(procs)


def _measure(command: list[str], port: int, env: dict[str, str]) -> dict[str, float]:
    clock = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.perf_counter() - clock > LIMIT_S:
                raise RuntimeError(f"no answer within {LIMIT_S:.0f} s")
            time.sleep(0.1)
        answered = time.perf_counter() - clock
        time.sleep(SETTLE_S)
        mib, count = _tree_rss_mib(process.pid)
        return {"answer_s": answered, "rss_mib": mib, "processes": count}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def ui(tmp: Path) -> dict:
    """`make ui` (lean) and stock `mlflow ui`, one after the other, on the same store."""
    tmp.mkdir(parents=True, exist_ok=True)
    db = _store(tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    port = _free_port()
    lean = _measure(["make", "-s", "-o", ".venv/.installed", "ui", f"PORT={port}",
                     f"STORE={db}"], port, env)
    port = _free_port()
    stock = _measure([str(VENV_BIN / "mlflow"), "ui", "--backend-store-uri",
                      f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(port)], port, env)
    print(f"  make ui:        answers in {lean['answer_s']:.1f} s (goal <= {GOAL_SECONDS:g}), "
          f"{lean['rss_mib']:.0f} MiB in {lean['processes']} processes "
          f"(goal <= {GOAL_MIB:g})", flush=True)
    print(f"  stock mlflow ui: answers in {stock['answer_s']:.1f} s, {stock['rss_mib']:.0f} MiB "
          f"in {stock['processes']} processes; make ui holds "
          f"{lean['rss_mib'] / stock['rss_mib']:.2f}x its memory", flush=True)
    return {"make_ui": lean, "stock": stock,
            "ok": lean["answer_s"] <= GOAL_SECONDS and lean["rss_mib"] <= GOAL_MIB}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        print(ui(Path(d)))
