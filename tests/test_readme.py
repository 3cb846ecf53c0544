"""The README's commands, run exactly as written, in a fresh working directory, with no
test-only overrides: the quickstart sweep that ``make sweep`` runs, one job with the
defaults, ``aesweep-report`` with no arguments and ``--help``.

What they must produce: the sweep's parent run with every job nested under it, the sweep
table, the report (printed, written under the sweep's directory and logged to the parent),
and no Hydra ``UserWarning`` (``run_cli`` fails on one).
"""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from aesweep.names import PARENT_TAG, ROLE_TAG, SWEEP_ID_TAG, SWEEP_ROLE
from aesweep.report import FILES

from helpers import describe, run_cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ["-m", "+experiment=quickstart"]
QUICKSTART_GRID = set(itertools.product(("4", "16", "64"), ("5", "20")))


def readme_commands() -> list[str]:
    """The commands of the README's opening code block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_opens_with_the_two_make_targets() -> None:
    assert readme_commands() == ["make sweep", "make test"]


def test_make_sweep_runs_the_quickstart_command() -> None:
    planned = subprocess.run(["make", "--no-print-directory", "-n", "sweep"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.splitlines()
    assert planned[-1].endswith("/aesweep " + " ".join(QUICKSTART)), planned


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    cwd = tmp_path_factory.mktemp("quickstart")
    result = run_cli(QUICKSTART, cwd=cwd, timeout=900)
    assert result.returncode == 0, describe(result)
    client = MlflowClient(f"sqlite:///{cwd / 'outputs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("aesweep")
    assert experiment is not None, describe(result)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return SimpleNamespace(cwd=cwd, result=result, client=client, runs=runs)


@pytest.mark.xdist_group("readme_quickstart")
def test_quickstart_logs_one_parent_with_six_nested_children(quickstart) -> None:
    parents = [r for r in quickstart.runs if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    assert len(parents) == 1, describe(quickstart.result)
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    children = [r for r in quickstart.runs if r is not parent]
    assert len(children) == 6
    for child in children:
        assert child.data.tags[PARENT_TAG] == parent.info.run_id
        assert child.data.tags[SWEEP_ID_TAG] == parent.info.run_id
        assert child.info.status == "FINISHED"
    grid = {(c.data.params["architecture.bottleneck"], c.data.params["trainer.epochs"])
            for c in children}
    assert grid == QUICKSTART_GRID
    assert {c.data.params["dataset.n_features"] for c in children} == {"100"}


@pytest.mark.xdist_group("readme_quickstart")
def test_quickstart_prints_the_sweep_table_and_the_verdict(quickstart) -> None:
    stdout = quickstart.result.stdout
    (parent,) = [r for r in quickstart.runs if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    assert f"sweep {parent.info.run_id}: 6 jobs" in stdout, describe(quickstart.result)
    table = stdout.split(f"sweep {parent.info.run_id}: 6 jobs\n", 1)[1].splitlines()
    assert table[0].split()[:4] == ["bottleneck", "epochs", "seed", "recon_mse_test"]
    rows = [line.split() for line in table[1:7]]
    assert {(row[0], row[1]) for row in rows} == QUICKSTART_GRID
    assert all("FINISHED" in row for row in rows)
    assert re.search(r"^best on validation: bottleneck \d+, \d+ epochs? \(0\.\d+( ± 0\.\d+)?\); "
                     r"on the test rows, encoded 0\.\d+", stdout, re.MULTILINE)


@pytest.mark.xdist_group("readme_quickstart")
def test_quickstart_writes_and_logs_the_report(quickstart) -> None:
    (report_dir,) = (quickstart.cwd / "outputs" / "multirun").glob("*/*/report")
    assert sorted(p.name for p in report_dir.iterdir()) == sorted(FILES)
    assert f"report: {report_dir}/" in quickstart.result.stdout
    (parent,) = [r for r in quickstart.runs if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    logged = quickstart.client.list_artifacts(parent.info.run_id, "report")
    assert sorted(a.path for a in logged) == sorted(f"report/{name}" for name in FILES)


@pytest.mark.xdist_group("readme_quickstart")
def test_aesweep_report_with_no_arguments_reports_the_latest_sweep(quickstart) -> None:
    result = run_cli([], cwd=quickstart.cwd, program="aesweep-report", timeout=300)
    assert result.returncode == 0, describe(result)
    (parent,) = [r for r in quickstart.runs if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    verdict = [line for line in quickstart.result.stdout.splitlines()
               if line.startswith("best on validation: ")]
    assert verdict and verdict[0] in result.stdout.splitlines()
    out = quickstart.cwd / "outputs" / "reports" / parent.info.run_id
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)


@pytest.mark.xdist_group("readme_default")
def test_aesweep_with_the_defaults(tmp_path: Path) -> None:
    result = run_cli([], cwd=tmp_path, timeout=900)
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr
    output = result.stdout + result.stderr
    headlines = [line for line in output.splitlines() if "recon_mse_test=" in line]
    assert len(headlines) == 1, describe(result)
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("aesweep").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "defaults"
    assert run.data.params["trainer.epochs"] == "10"
    assert run.data.params["architecture.bottleneck"] == "32"
    assert PARENT_TAG not in run.data.tags
    assert list((tmp_path / "outputs" / "runs").glob("*/*/.hydra/config.yaml"))


@pytest.mark.parametrize("program", ["aesweep", "aesweep-report"])
def test_help(tmp_path: Path, program: str) -> None:
    result = run_cli(["--help"], cwd=tmp_path, program=program, timeout=120)
    assert result.returncode == 0, describe(result)
    if program == "aesweep":
        for group in ("dataset", "architecture", "optimizer", "trainer", "downstream",
                      "tracking", "paths", "experiment"):
            assert f"{group}:" in result.stdout, group
    else:
        assert "--tracking-uri" in result.stdout
    assert not (tmp_path / "outputs").exists()
