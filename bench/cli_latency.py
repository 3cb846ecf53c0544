"""The ``cli_latency`` section (issue 14): how fast the commands that run no job answer.

Four commands, each a fresh process of the installed console script in a scratch
directory, timed from start to exit (wall time): ``aesweep --help``, ``aesweep --cfg job``,
``aesweep-report --help`` and a config error, ``aesweep trainer.epochs=0`` (it must exit 2
with its one-line message). None of them needs TensorFlow, MLflow, scikit-learn, SciPy,
pandas or Matplotlib, and none imports them (tests/test_cli_imports.py). The commands take
turns, round after round (``warmup`` untimed rounds first, for the file cache), so that a
load on the machine falls on all of them alike; each figure is the median of ``reps``
rounds. Goal: each <= 1.5 s on the 2-core reference machine.

    .venv/bin/python bench/cli_latency.py          # alone: prints the figures as JSON
"""

# Suggested profile entries for bench/run.py's PROFILES (about 1 min in full):
#     "full":  {..., "cli_latency": {"reps": 9, "warmup": 1}},
#     "quick": {..., "cli_latency": {"reps": 3, "warmup": 1}},

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from launchers import say
from processes import AESWEEP, PYTHON, env

GOAL_S = 1.5
AESWEEP_REPORT = str(Path(PYTHON).with_name("aesweep-report"))
# name: (command line, the exit code it must end with, a line its stderr must hold)
COMMANDS: dict[str, tuple[list[str], int, str | None]] = {
    "aesweep --help": ([AESWEEP, "--help"], 0, None),
    "aesweep --cfg job": ([AESWEEP, "--cfg", "job"], 0, None),
    "aesweep-report --help": ([AESWEEP_REPORT, "--help"], 0, None),
    "aesweep trainer.epochs=0": ([AESWEEP, "trainer.epochs=0"], 2,
                                 "aesweep: error: trainer.epochs: must be >= 1, got 0"),
}


def time_command(cmd: list[str], code: int, line: str | None, cwd: Path) -> float:
    """Run ``cmd`` once in ``cwd``; its wall time. Raises if it ends otherwise than expected."""
    environment = {k: v for k, v in env().items() if k != "HYDRA_FULL_ERROR"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=120, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != code or (line is not None and line not in proc.stderr.splitlines()):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode} (expected {code}):\n"
                           f"{proc.stderr[-2000:]}")
    return wall


def cli_latency(profile: dict, tmp: Path) -> dict[str, Any]:
    p = profile.get("cli_latency", {})
    reps, warmup = int(p.get("reps", 5)), int(p.get("warmup", 1))
    tmp.mkdir(parents=True, exist_ok=True)
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    load_start = os.getloadavg()
    for round_ in range(warmup + reps):
        for name, (cmd, code, line) in COMMANDS.items():
            cwd = tmp / f"round-{round_}" / name.replace(" ", "_").replace("=", "-")
            cwd.mkdir(parents=True)
            wall = time_command(cmd, code, line, cwd)
            if round_ >= warmup:
                walls[name].append(wall)
    commands = {}
    for name, times in walls.items():
        median = statistics.median(times)
        commands[name] = {"median_s": median, "walls_s": times, "goal_s": GOAL_S,
                          "ok": median <= GOAL_S}
        say(f"  {name:26s} {median:5.2f} s (median of {len(times)}; goal <= {GOAL_S:g} s)")
    return {"commands": commands, "goal_s": GOAL_S, "reps": reps, "warmup": warmup,
            "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
            "ok": all(c["ok"] for c in commands.values())}


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        print(json.dumps(cli_latency({"cli_latency": {"reps": 5, "warmup": 1}}, Path(d)),
                         indent=1))
