"""The commands that only print help, print a config or reject bad input import none of the
heavy libraries: each runs its console script's ``main`` in a fresh interpreter and reports
which of them ended up in ``sys.modules``. (How fast they answer is a benchmark's business:
``bench/cli_latency.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import clean_env, describe

# What the job, the report or a launcher needs, and a quick answer never does.
HEAVY = ("tensorflow", "keras", "mlflow", "sklearn", "scipy", "pandas", "pyarrow",
         "matplotlib", "optuna", "ray", "joblib")
ENTRY_POINTS = {"aesweep": "aesweep.app", "aesweep-report": "aesweep.report.cli"}
MARKER = "heavy modules:"
# Run a console script's main() as the installed script does, then list the heavy modules.
PROBE = f"""
import json, sys
program, module, *args = sys.argv[1:]
sys.argv = [program, *args]
main = __import__(module, fromlist=["main"]).main
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code
sys.stdout.flush()
print({MARKER!r}, json.dumps(sorted({{m.split(".")[0] for m in sys.modules}}
                                    & set({HEAVY!r}))), flush=True)
sys.exit(code)
"""


def run_main(program: str, args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess,
                                                                  list[str]]:
    """Run ``program ARGS`` through its entry point in a fresh interpreter, in ``cwd``; its
    result and the heavy modules it imported."""
    result = subprocess.run([sys.executable, "-c", PROBE, program, ENTRY_POINTS[program],
                             *args], cwd=cwd, env=clean_env(), capture_output=True,
                            text=True, timeout=120, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    assert lines, describe(result)
    return result, json.loads(lines[-1].removeprefix(MARKER))


@pytest.mark.parametrize(("program", "args"), [
    ("aesweep", ["--help"]),
    ("aesweep", ["--cfg", "job"]),
    ("aesweep-report", ["--help"]),
], ids=["aesweep --help", "aesweep --cfg job", "aesweep-report --help"])
def test_a_quick_answer_imports_nothing_heavy(program: str, args: list[str],
                                              tmp_path: Path) -> None:
    result, heavy = run_main(program, args, tmp_path)
    assert result.returncode == 0, describe(result)
    assert heavy == [], describe(result)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["trainer.epochs=0"], "aesweep: error: trainer.epochs: must be >= 1, got 0"),
    (["architecture.bottleneck=0"],
     "aesweep: error: architecture.bottleneck: must be >= 1, got 0"),
])
def test_a_config_error_is_one_line_before_any_heavy_import(args: list[str], message: str,
                                                            tmp_path: Path) -> None:
    result, heavy = run_main("aesweep", args, tmp_path)
    assert result.returncode == 2, describe(result)
    assert result.stderr.strip().splitlines() == [message], describe(result)
    assert heavy == [], describe(result)


def test_an_unknown_key_imports_nothing_heavy(tmp_path: Path) -> None:
    result, heavy = run_main("aesweep", ["trainer.epoch=3"], tmp_path)
    assert result.returncode != 0, describe(result)
    assert "trainer.epoch" in result.stderr, describe(result)
    assert heavy == [], describe(result)
