"""Sweeps on a Ray cluster of two nodes, tracked on an MLflow server over PostgreSQL.

The cluster is Ray's own test cluster (``ray.cluster_utils.Cluster``): a head and a worker
node on 127.0.0.1, 1 CPU each, started from an environment without the tracking
credentials, so the jobs can reach the server only if the driver hands them over. The
``aesweep`` driver joins it with ``hydra.launcher.ray.init.address``, as on a real cluster.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.names import (
    CHECKPOINT_EPOCHS_TAG,
    CHECKPOINT_SOURCE_TAG,
    EPOCHS_PARAM,
    ERROR_TAG,
    NODE_TAG,
    PARENT_TAG,
    RESUMED_TAG,
    THREADS_TAG,
    TRAIN_HASH_TAG,
)

from helpers import TINY, describe, run_cli, store_args

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]

NODE_ARGS = {"num_cpus": 1, "object_store_memory": 80 * 2**20, "include_dashboard": False}


@contextlib.contextmanager
def two_node_cluster() -> Iterator[tuple[object, object]]:
    """A head and a worker node, 1 CPU each, whose processes never saw MLFLOW_*."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("MLFLOW_")}
    try:
        cluster = ray_cluster_utils.Cluster(initialize_head=True, connect=False,
                                            head_node_args=NODE_ARGS)
        worker = cluster.add_node(**NODE_ARGS)
    finally:
        os.environ.update(saved)
    try:
        yield cluster, worker
    finally:
        cluster.shutdown()


def sweep_args(cluster, root: Path, *grid: str) -> list[str]:
    return ["-m", *TINY, *grid, "tracking=server", "hydra/launcher=ray",
            f"hydra.launcher.ray.init.address={cluster.address}",
            "evaluation.bootstrap_resamples=0", *store_args(root)]


@pytest.fixture
def client(tracking_server, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """A client of the test server, with its credentials in this process's environment."""
    for key, value in tracking_server.client_env().items():
        monkeypatch.setenv(key, value)
    return MlflowClient(tracking_server.url)


def children(client: MlflowClient, parent: str | None = None) -> list:
    experiment = client.get_experiment_by_name("aesweep")
    query = f"tags.`{PARENT_TAG}` = '{parent}'" if parent else ""
    return client.search_runs([experiment.experiment_id], query, max_results=1000)


def parent_of(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("sweep ")
                and line.endswith("jobs"))
    return line.split()[1].rstrip(":")


@pytest.fixture(scope="module")
def ray_sweep(tracking_server, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ray-sweep")
    with two_node_cluster() as (cluster, worker):
        result = run_cli(sweep_args(cluster, root, "trainer.epochs=2,1",
                                    "architecture.bottleneck=3,5"),
                         cwd=root, env=tracking_server.client_env(), timeout=600)
        head_id = cluster.head_node.node_id
        yield result, root, {head_id, worker.node_id}


def test_every_run_is_nested_under_the_sweep_on_the_server(ray_sweep, client) -> None:
    result, _, _ = ray_sweep
    assert result.returncode == 0, describe(result)
    runs = children(client, parent_of(result.stdout))
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    assert {(r.data.params["architecture.bottleneck"], r.data.params[EPOCHS_PARAM])
            for r in runs} == {("3", "1"), ("3", "2"), ("5", "1"), ("5", "2")}


def test_checkpoints_travel_between_nodes_through_the_artifact_store(ray_sweep, client) -> None:
    result, root, nodes = ray_sweep
    runs = children(client, parent_of(result.stdout))
    assert {r.data.tags[NODE_TAG] for r in runs} == nodes  # both nodes ran jobs
    assert {r.data.tags[THREADS_TAG] for r in runs} == {"1"}  # the CPUs Ray gave each task
    by_id = {r.info.run_id: r for r in runs}
    for run in runs:
        if run.data.params[EPOCHS_PARAM] == "1":
            assert run.data.tags[CHECKPOINT_EPOCHS_TAG] == "1" and RESUMED_TAG not in run.data.tags
            continue
        # Resumed from the 1-epoch run of the same config, through the server: it trained
        # 1 epoch itself, so the sweep trained 2 epochs per config, not 3.
        source = by_id[run.data.tags[CHECKPOINT_SOURCE_TAG]]
        assert run.data.tags[RESUMED_TAG] == "1"
        assert source.data.tags[TRAIN_HASH_TAG] == run.data.tags[TRAIN_HASH_TAG]
        assert source.data.params[EPOCHS_PARAM] == "1"
    assert not (root / "checkpoints").exists()  # nothing went through a local disk


def test_the_sweep_table_and_report(ray_sweep) -> None:
    result, root, _ = ray_sweep
    table = result.stdout[result.stdout.index("bottleneck  epochs"):]
    assert table.count("FINISHED") == 4
    assert "best on validation: bottleneck" in result.stdout
    assert list(root.glob("multirun/*/*/report/report.md"))


def test_a_lost_worker_node_fails_its_job_and_a_rerun_completes_the_sweep(
        tracking_server, client, tmp_path: Path) -> None:
    # Long enough that the job is still training when its node goes.
    grid = ("architecture.bottleneck=3,5", "dataset.n_samples=3000", "trainer.epochs=40",
            "trainer.batch_size=16", "seed=7")
    with two_node_cluster() as (cluster, worker):
        killed: list[str] = []

        def kill_worker_when_it_runs_a_job() -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                for run in children(client) if client.get_experiment_by_name("aesweep") else []:
                    if (run.info.status == "RUNNING" and run.data.params.get("seed") == "7"
                            and run.data.tags.get(NODE_TAG) == worker.node_id):
                        cluster.remove_node(worker, allow_graceful=False)
                        killed.append(run.info.run_id)
                        return
                time.sleep(0.2)

        killer = threading.Thread(target=kill_worker_when_it_runs_a_job, daemon=True)
        killer.start()
        first = run_cli(sweep_args(cluster, tmp_path, *grid), cwd=tmp_path,
                        env=tracking_server.client_env(), timeout=600)
        killer.join(timeout=5)
        assert killed, describe(first)
        assert first.returncode != 0, describe(first)
        assert "1 job(s) failed" in first.stderr, describe(first)
        lost = client.get_run(killed[0])
        assert lost.info.status == "FAILED" and lost.data.tags[ERROR_TAG], lost.data.tags

        again = run_cli(sweep_args(cluster, tmp_path, *grid), cwd=tmp_path,
                        env=tracking_server.client_env(), timeout=600)
        assert again.returncode == 0, describe(again)
    rerun = children(client, parent_of(again.stdout))
    # Only the lost job ran again; the other was skipped as FINISHED.
    assert sum(r.info.status == "FINISHED" and PARENT_TAG in r.data.tags for r in rerun) == 1
    finished = [r for r in children(client) if r.data.params.get("seed") == "7"
                and r.info.status == "FINISHED"]
    assert sorted(r.data.params["architecture.bottleneck"] for r in finished) == ["3", "5"]


def test_submitit_local_runs_a_sweep_against_the_server(tracking_server, client,
                                                        tmp_path: Path) -> None:
    result = run_cli(["-m", *TINY, "architecture.bottleneck=3,5", "trainer.epochs=1", "seed=11",
                      "tracking=server", "hydra/launcher=submitit_local",
                      "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10",
                      "evaluation.bootstrap_resamples=0", *store_args(tmp_path)],
                     cwd=tmp_path, env=tracking_server.client_env(), timeout=600)
    assert result.returncode == 0, describe(result)
    runs = children(client, parent_of(result.stdout))
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert not (tmp_path / "checkpoints").exists()
