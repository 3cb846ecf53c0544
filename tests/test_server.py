"""The team tracking service (``aesweep.server``): a real PostgreSQL cluster and ``mlflow
server`` with basic auth on loopback, logged to by a plain MLflow client."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from mlflow.tracking import MlflowClient

from aesweep.errors import AesweepError
from aesweep.server import ServerError, TrackingServer, postgres
from aesweep.server.postgres import Postgres, free_port
from aesweep.server.tracking import PROBE, alive

from server_fixture import server_directory

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]

CLI_START_SECONDS = 240


def use(server: TrackingServer, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    for name, value in server.client_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    return MlflowClient()


def log_a_run(client: MlflowClient, experiment: str, scratch: Path) -> str:
    experiment_id = client.create_experiment(experiment)
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "bottleneck", "8")
    client.log_metric(run_id, "recon_mse", 0.25, step=3)
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "notes.txt").write_text("logged through the server\n")
    client.log_artifact(run_id, str(scratch / "notes.txt"), "docs")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def test_health_and_basic_auth(tracking_server: TrackingServer) -> None:
    assert requests.get(f"{tracking_server.url}/health", timeout=10).ok
    url, query = f"{tracking_server.url}{PROBE}", {"max_results": 1}
    assert requests.get(url, query, timeout=10).status_code == 401
    wrong = requests.get(url, query, timeout=10,
                         auth=(tracking_server.username, "not-the-password"))
    assert wrong.status_code == 401
    right = requests.get(url, query, timeout=10,
                         auth=(tracking_server.username, tracking_server.password))
    assert right.status_code == 200, right.text


def test_a_client_logs_runs_to_postgres_and_artifacts_through_the_server(
        tracking_server: TrackingServer, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    client = use(tracking_server, monkeypatch)
    run_id = log_a_run(client, "server-test", tmp_path / "upload")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"bottleneck": "8"}
    assert run.data.metrics == {"recon_mse": 0.25}
    # Proxied: the client only knows the server's URL; the file lands in its directory.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert [f.path for f in client.list_artifacts(run_id, "docs")] == ["docs/notes.txt"]
    stored = list(tracking_server.artifacts.rglob(f"{run_id}/artifacts/docs/notes.txt"))
    assert [p.read_text() for p in stored] == ["logged through the server\n"]
    connection = tracking_server.postgres.connect("mlflow")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status FROM runs WHERE run_uuid = %s", (run_id,))
            assert cursor.fetchall() == [("FINISHED",)]
            cursor.execute("SELECT key, value FROM params WHERE run_uuid = %s", (run_id,))
            assert cursor.fetchall() == [("bottleneck", "8")]
            cursor.execute("SELECT value, step FROM metrics WHERE run_uuid = %s", (run_id,))
            assert cursor.fetchall() == [(0.25, 3)]
    finally:
        connection.close()


def test_the_credentials_and_the_sockets_stay_private(tracking_server: TrackingServer,
                                                     tmp_path: Path) -> None:
    for path in (tracking_server.directory / "secrets").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
    assert tracking_server.postgres.sockets.stat().st_mode & 0o077 == 0
    # TCP needs the role's password: trust is for the private socket only.
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=tracking_server.postgres.port,
                         user="postgres", dbname="mlflow",
                         passfile=str(tmp_path / "no-pgpass"))


def test_a_second_server_on_the_same_directory_leaves_the_first_alone(
        tracking_server: TrackingServer) -> None:
    postmaster = tracking_server.postgres.pid
    second = TrackingServer(tracking_server.directory, durable=False)
    with pytest.raises(AesweepError, match="already runs"):
        second.start()
    assert tracking_server.postgres.pid == postmaster
    assert requests.get(f"{tracking_server.url}/health", timeout=10).ok
    connection = tracking_server.postgres.connect("mlflow")  # still on its port
    connection.close()


def _cli_processes(directory: Path) -> list[psutil.Process]:
    """Processes started for a server in ``directory``: their command line or environment
    names it (uvicorn's worker has it only in MLFLOW_AUTH_CONFIG_PATH)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            texts = [*(process.info["cmdline"] or ()), *process.environ().values()]
        except psutil.Error:
            continue
        if process.pid != os.getpid() and any(str(directory) in text for text in texts):
            found.append(process)
    return alive(found)


class Output:
    """A process's output, read by a thread (a selector on a buffered text pipe misses
    lines already buffered)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen = ""
        self.reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        for line in proc.stdout or ():
            self.lines.put(line)

    def until(self, marker: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            try:
                self.seen += self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} in {timeout} s:\n{self.seen}") from None
        return self.seen

    def rest(self) -> str:
        self.reader.join(timeout=30)
        while not self.lines.empty():
            self.seen += self.lines.get()
        return self.seen


def test_a_restart_keeps_runs_and_credentials_and_stop_leaves_nothing(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    directory = server_directory(tmp_path_factory, "restart") / "server"
    server = TrackingServer(directory, durable=False)
    with server:
        run_id = log_a_run(use(server, monkeypatch), "restart", tmp_path / "upload")
        processes = server.processes()
        names = {p.name() for p in processes}
        assert {"postgres"} <= names and any("python" in n for n in names), names
    assert alive(processes) == []
    assert server.postgres.pid is None  # postmaster.pid is gone: a clean shutdown
    server.stop()  # twice is harmless

    # The CLI on the same directory: the same cluster, runs and password.
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aesweep.server", "--dir", str(directory),
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = Output(proc)
    try:
        printed = output.until("export MLFLOW_TRACKING_PASSWORD", CLI_START_SECONDS)
        assert f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{port}" in printed
        assert f"export MLFLOW_TRACKING_PASSWORD={server.password}" in printed
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        assert MlflowClient().get_run(run_id).data.params == {"bottleneck": "8"}
        running = " ".join(" ".join(p.cmdline()) for p in _cli_processes(directory))
        assert "uvicorn" in running and "postgres -D" in running, running
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    assert proc.returncode == 0, output.rest()
    assert output.rest().endswith("aesweep-server: stopped\n"), output.rest()
    assert "Traceback" not in output.rest()
    assert _cli_processes(directory) == []


def test_a_failed_start_leaves_nothing_running(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = server_directory(tmp_path_factory, "failed") / "server"
    server = TrackingServer(directory, durable=False, start_timeout=0)
    with pytest.raises(ServerError, match="did not answer") as error:
        server.start()
    assert "mlflow.log" in str(error.value).splitlines()[0]
    assert server.postgres.pid is None
    assert _cli_processes(directory) == []


def test_the_cli_names_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "aesweep.server", "--dir", str(tmp_path / "server"),
             "--port", str(port)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"--port {port}" in lines[0] and "choose another --port" in lines[0]
    assert not (tmp_path / "server").exists()  # nothing started, nothing written


def test_missing_postgresql_binaries_say_what_to_install(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres, "DEBIAN_BINARIES", tmp_path / "none")
    with pytest.raises(AesweepError, match="apt-get install postgresql") as error:
        postgres.find_binaries()
    assert "\n" not in str(error.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to 'postgres'")
def test_under_root_a_directory_postgres_cannot_enter_is_named(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    private = server_directory(tmp_path_factory, "private") / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(AesweepError, match=f"cannot enter {private}"):
        Postgres(private / "server" / "postgres").start()
