"""End to end: a job that fails after its MLflow run started.

``+downstream.params.l1_ratio=0.5`` passes scikit-learn's parameter validation but
LogisticRegression's default solver rejects it in ``fit``, i.e. after training began.
The run must end FAILED (never RUNNING), and the user should get a one-line error naming
the key, exit code 2 and no traceback, like every other bad input.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from helpers import TINY, describe, run_cli, run_statuses, store_args

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cli_failed")]


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    root = tmp_path_factory.mktemp("failed")
    result = run_cli([*store_args(root), *TINY, "trainer.epochs=1", "tracking.log_model=false",
                      "+downstream.params.l1_ratio=0.5"], cwd=root)
    return SimpleNamespace(result=result, root=root)


def test_exits_non_zero(failed):
    assert failed.result.returncode != 0, describe(failed.result)


def test_run_that_started_is_marked_failed_not_running(failed):
    statuses = run_statuses(failed.root / "mlflow.db")
    assert "RUNNING" not in statuses
    assert statuses == ["FAILED"] or statuses == [], describe(failed.result)


def test_incompatible_downstream_params_are_a_one_line_config_error(failed):
    assert failed.result.returncode == 2, describe(failed.result)
    assert "Traceback" not in failed.result.stderr
    assert "aesweep: error: downstream.params" in failed.result.stderr
