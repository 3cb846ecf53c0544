"""The processes the benchmark drives: long-lived TensorFlow workers (``worker.py``) and
``aesweep`` command lines. The driver itself never imports TensorFlow."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
AESWEEP = str(Path(PYTHON).with_name("aesweep"))


def env() -> dict[str, str]:
    environment = dict(os.environ)
    environment.setdefault("PYTHONUNBUFFERED", "1")
    return environment


class Worker:
    """A ``worker.py`` process: send a command, wait for its JSON reply."""

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

    def call(self, cmd: str, timeout: float = 1800, **args: Any) -> dict:
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


@contextlib.contextmanager
def workers(tmp: Path, specs: list[tuple[str, list[str]]]):
    """Start several workers at once (their imports overlap) and wait until all are ready,
    so that no start-up runs during a measurement; close them all at the end."""
    started = {name: Worker(name, tmp, *argv) for name, argv in specs}
    try:
        for worker in started.values():
            worker.ready()
        yield started
    finally:
        for worker in started.values():
            worker.close()


def run_cli(cmd: list[str], cwd: Path, timeout: float = 3600) -> float:
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


def read_runs(uri: str) -> list[dict]:
    """Every run of an MLflow store (``timed_cli.read_runs``, in a fresh process: the
    driver imports no MLflow either)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[2]); from timed_cli import read_runs;"
            " print(json.dumps(read_runs(sys.argv[1])))")
    out = subprocess.run([PYTHON, "-c", code, uri, str(BENCH)], env=env(), capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])
