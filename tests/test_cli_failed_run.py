"""End to end: a job that fails after its MLflow run started.

``optimizer=sgd optimizer.learning_rate=10000`` passes every check made before training,
but the loss becomes NaN in the first epoch. The run must end FAILED (never RUNNING) with
an ``error`` tag, and the user gets a one-line error naming the key to fix, exit code 2
and no traceback, like every other bad input. In a multirun the sweep goes on.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from aesweep.names import ERROR_TAG, ROLE_TAG

from helpers import TINY, describe, run_cli, store_args, store_uri

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cli_failed")]

DIVERGES = ["optimizer=sgd", "optimizer.learning_rate=10000"]
FAST = [*TINY, "trainer.epochs=2", "tracking.log_model=false",
        "evaluation.bootstrap_resamples=0"]


def runs_in(root):
    client = MlflowClient(store_uri(root))
    return client.search_runs([client.get_experiment_by_name("aesweep").experiment_id])


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    root = tmp_path_factory.mktemp("failed")
    result = run_cli([*store_args(root), *FAST, *DIVERGES], cwd=root)
    return SimpleNamespace(result=result, root=root)


def test_a_diverging_run_is_a_one_line_error_naming_the_key(failed):
    assert failed.result.returncode == 2, describe(failed.result)
    assert "Traceback" not in failed.result.stderr
    last = failed.result.stderr.strip().splitlines()[-1]
    assert last.startswith("aesweep: error: optimizer.learning_rate: training diverged: "
                           "the loss is nan after epoch 1"), describe(failed.result)


def test_the_run_that_started_ends_failed_with_the_error(failed):
    (run,) = runs_in(failed.root)
    assert run.info.status == "FAILED"
    assert run.data.tags[ERROR_TAG].startswith(
        "ConfigError: optimizer.learning_rate: training diverged")


def test_in_a_sweep_the_other_jobs_go_on(tmp_path):
    result = run_cli(["-m", *store_args(tmp_path), *FAST, "optimizer=sgd",
                      "optimizer.learning_rate=0.01,10000"], cwd=tmp_path)
    assert result.returncode == 1, describe(result)
    assert "aesweep: 1 job(s) failed:" in result.stderr
    assert "learning_rate=10000: ConfigError: optimizer.learning_rate: training diverged" \
        in result.stderr
    runs = runs_in(tmp_path)
    (parent,) = [r for r in runs if ROLE_TAG in r.data.tags]
    jobs = {r.data.params.get("optimizer.learning_rate", r.info.run_name): r.info.status
            for r in runs if r is not parent}
    assert parent.info.status == "FAILED"
    assert sorted(jobs.values()) == ["FAILED", "FINISHED"]
