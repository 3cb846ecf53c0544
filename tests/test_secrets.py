"""No secret reaches the tracking store, whatever form carries it: a password in the
tracking URI (``++tracking.uri=http://user:PASSWORD@...``) and a value read from the
environment (``${oc.env:...}``), through a real ``mlflow server`` on loopback.

Every param, tag, run name, dataset input and text artifact of the sweep's parent and
its children (the logged encoder models included) is searched for both."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
import requests
from mlflow.tracking import MlflowClient

from aesweep.names import ENV_MASK, PARENT_TAG, ROLE_TAG, SWEEP_OVERRIDES_PARAM

from helpers import TINY, clean_env, describe, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow_server")]

PASSWORD, FROM_ENV = "pw-9f3k", "s3cr3t-from-env"
SERVER_START_SECONDS = 180
TEXT_SUFFIXES = {".txt", ".yaml", ".yml", ".json", ".md", ".csv", ".py", ""}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """``mlflow server`` on 127.0.0.1 with proxied artifacts, one worker, no job runner."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    env = clean_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        try:
            if requests.get(f"{uri}/health", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "mlflow server did not start"
        time.sleep(1)
    yield SimpleNamespace(uri=uri, port=port, root=root)
    proc.terminate()
    proc.wait(timeout=60)
    log.close()


def texts_of_run(client: MlflowClient, run, scratch: Path) -> dict[str, str]:
    """Every text MLflow holds about a run: name, params, tags, dataset inputs and text
    artifacts, by where they come from."""
    found = {"run name": run.info.run_name}
    found |= {f"param {k}": f"{k}={v}" for k, v in run.data.params.items()}
    found |= {f"tag {k}": f"{k}={v}" for k, v in run.data.tags.items()}
    for i, dataset_input in enumerate(run.inputs.dataset_inputs):
        d = dataset_input.dataset
        found[f"dataset {i}"] = " ".join(str(x) for x in (d.name, d.source, d.source_type,
                                                          d.profile, d.schema, d.digest))
    local = Path(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, tracking_uri=client.tracking_uri,
        dst_path=str(scratch / run.info.run_id)))
    found |= _text_files(local, f"artifact of {run.info.run_name}")
    return found


def _text_files(directory: Path, label: str) -> dict[str, str]:
    return {f"{label}: {path.relative_to(directory)}": path.read_text(errors="replace")
            for path in directory.rglob("*") if path.is_file() and (
                path.suffix in TEXT_SUFFIXES or path.name == "MLmodel")}


@pytest.fixture(scope="module")
def sweep(server, tmp_path_factory: pytest.TempPathFactory):
    cwd = tmp_path_factory.mktemp("secrets")
    result = run_cli(["-m", f"++tracking.uri=http://user:{PASSWORD}@127.0.0.1:{server.port}",
                      "+api_key=${oc.env:AESWEEP_TEST_SECRET}", "+derived=key-${api_key}",
                      "architecture.bottleneck=2,4", "trainer.epochs=1",
                      "evaluation.bootstrap_resamples=0", *TINY],
                     cwd=cwd, env={"AESWEEP_TEST_SECRET": FROM_ENV}, timeout=900)
    assert result.returncode == 0, describe(result)
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("aesweep")
    runs = client.search_runs([experiment.experiment_id])
    return SimpleNamespace(result=result, client=client, runs=runs, cwd=cwd,
                           experiment=experiment)


def test_the_sweep_is_logged_on_the_server(sweep) -> None:
    (parent,) = [r for r in sweep.runs if ROLE_TAG in r.data.tags]
    children = [r for r in sweep.runs if r is not parent]
    assert len(children) == 2
    assert {c.data.tags[PARENT_TAG] for c in children} == {parent.info.run_id}
    assert {r.info.status for r in sweep.runs} == {"FINISHED"}
    assert f"+api_key={ENV_MASK}" in parent.data.params[SWEEP_OVERRIDES_PARAM]
    assert all(c.data.params["api_key"] == c.data.params["derived"] == ENV_MASK
               for c in children)


def test_no_secret_anywhere_in_the_store(sweep) -> None:
    texts: dict[str, str] = {}
    for run in sweep.runs:
        texts |= texts_of_run(sweep.client, run, sweep.cwd / "downloads")
    models = sweep.client.search_logged_models(
        experiment_ids=[sweep.experiment.experiment_id])
    assert len(models) == 2  # one encoder per job: their files are searched too
    for model in models:
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=model.artifact_location, tracking_uri=sweep.client.tracking_uri,
            dst_path=str(sweep.cwd / model.model_id)))
        texts |= _text_files(local, f"model {model.model_id}")
        texts[f"model {model.model_id} params"] = repr(model.params) + repr(model.tags)
    assert any("config.yaml" in where for where in texts)  # the search saw the artifacts
    for where, text in texts.items():
        for secret in (PASSWORD, FROM_ENV):
            assert secret not in text, f"{secret!r} in {where}"


def test_no_secret_in_the_terminal_output(sweep) -> None:
    for secret in (PASSWORD, FROM_ENV):
        assert secret not in sweep.result.stdout + sweep.result.stderr
