"""The team tracking server: ``mlflow server`` with basic auth and proxied artifacts, over
the PostgreSQL cluster of :mod:`aesweep.server.postgres`, all on this machine.

Everything lives under one directory::

    postgres/            the cluster (data/, run/ with the socket, postgres.log)
    artifacts/           every run's artifacts, uploaded through the server
    secrets/             admin_password, flask_secret_key, db_password, pgpass (0600)
    basic_auth.ini       the auth app's settings (its users live in PostgreSQL)
    mlflow.log           the server's output, appended at every start
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import psutil
import requests

from aesweep.server.postgres import Postgres, ServerError, ensure_free, free_port, tail

SERVER_START_SECONDS = 180.0  # 20-40 s on two cores; the first start also creates tables
STOP_SECONDS = 30.0
ADMIN = "admin"
# The same variables MLflow's auth app reads: a value set there wins over the saved file.
PASSWORD_ENV, SECRET_KEY_ENV, USERNAME_ENV = ("MLFLOW_AUTH_ADMIN_PASSWORD",
                                              "MLFLOW_FLASK_SERVER_SECRET_KEY",
                                              "MLFLOW_AUTH_ADMIN_USERNAME")
PROBE = "/api/2.0/mlflow/experiments/search"
# SQLAlchemy's pool per engine (tracking, auth). The worker serves up to 40 requests at
# once (anyio's thread limit) and a request can hold more than one connection: at the
# default 5 + 10, 32 busy clients starve the pool and requests fail after a 30 s wait.
POOL = {"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "10", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": "110"}


def read_secret(path: Path, env: str | None = None) -> str:
    """``env``'s value if set, else the file's, else a new one; saved to the file (0600)
    when it has none, so that a restart keeps the same credentials. A set ``env`` never
    overwrites the file: a mistyped one must not replace the password users were made with."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = os.environ.get(env, "") if env else ""
    if path.exists():
        path.chmod(0o600)
        return value or path.read_text().strip()
    value = value or secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")
    return value


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    path.chmod(0o600)  # an older file keeps its mode through O_CREAT


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie has exited: only its parent's wait is missing)."""
    def running(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False
    return [p for p in processes if running(p)]


class TrackingServer:
    """``with TrackingServer(directory) as server:`` starts PostgreSQL and ``mlflow
    server`` on ``host:port`` (a free port unless given), and stops both at the end.

    ``url``, ``username`` and ``password`` are what a client needs (``client_env()``);
    the password is known once :meth:`start` has read or created it.
    """

    def __init__(self, directory: Path | str, host: str = "127.0.0.1", port: int | None = None,
                 pg_port: int | None = None, durable: bool = True,
                 start_timeout: float = SERVER_START_SECONDS) -> None:
        self.directory = Path(directory).absolute()
        self.host = host
        self.port = port or free_port(host)
        local = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        self.url = f"http://{f'[{local}]' if ':' in local else local}:{self.port}"
        self.username = os.environ.get(USERNAME_ENV) or ADMIN
        self.password = ""
        self.start_timeout = start_timeout
        self.postgres = Postgres(self.directory / "postgres", port=pg_port, durable=durable)
        self.log_path = self.directory / "mlflow.log"
        self.artifacts = self.directory / "artifacts"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def __enter__(self) -> TrackingServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def client_env(self) -> dict[str, str]:
        """The variables an MLflow client (``aesweep`` included) reads to log here."""
        return {"MLFLOW_TRACKING_URI": self.url, "MLFLOW_TRACKING_USERNAME": self.username,
                "MLFLOW_TRACKING_PASSWORD": self.password}

    def processes(self) -> list[psutil.Process]:
        """Every process this server runs now: mlflow's (its CLI, uvicorn, the worker)
        and PostgreSQL's."""
        found = []
        if self._proc is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                main = psutil.Process(self._proc.pid)
                found += [main, *main.children(recursive=True)]
        return alive(found + self.postgres.processes())

    def start(self) -> TrackingServer:
        if self._proc is not None:
            return self
        try:
            self._start()
        except BaseException:  # Ctrl-C during the wait included: leave nothing behind
            self.stop()
            raise
        return self

    def _start(self) -> None:
        ensure_free(self.host, self.port, "port")
        self.directory.mkdir(parents=True, exist_ok=True)
        keys = self.directory / "secrets"
        self.password = read_secret(keys / "admin_password", PASSWORD_ENV)
        secret_key = read_secret(keys / "flask_secret_key", SECRET_KEY_ENV)
        self.postgres.password = read_secret(keys / "db_password")
        # libpq reads the role's password from here: it stays off command lines and URIs.
        write_private(keys / "pgpass", f"127.0.0.1:*:*:mlflow:{self.postgres.password}\n")
        self.postgres.start()
        self.artifacts.mkdir(exist_ok=True)
        ini = self.directory / "basic_auth.ini"
        ini.write_text(
            "# Written by aesweep.server at every start (the port of PostgreSQL may change).\n"
            "[mlflow]\n"
            "# Team members share experiments (aesweep's included): every user may log to\n"
            "# any; deleting and granting stay with each experiment's owner and the admin.\n"
            "default_permission = EDIT\n"
            f"database_uri = {self.postgres.uri('mlflow_auth')}\n"
            f"admin_username = {self.username}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "# Without the cache every request pays a password hash (~0.25 s of CPU): 15x\n"
            "# fewer jobs/s. One worker: no other worker's cache can go stale.\n"
            "auth_cache_ttl_seconds = 60\n")
        env = POOL | {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env |= {
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            # MLflow 3's server imports a Starlette module that warns of its own deprecation.
            "PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated",
            "MLFLOW_AUTH_CONFIG_PATH": str(ini), USERNAME_ENV: self.username,
            PASSWORD_ENV: self.password, SECRET_KEY_ENV: secret_key,
            "PGPASSFILE": str(keys / "pgpass"),
        }
        command = [sys.executable, "-m", "mlflow", "server",
                   "--backend-store-uri", self.postgres.uri("mlflow"),
                   "--serve-artifacts", "--artifacts-destination", str(self.artifacts),
                   "--host", self.host, "--port", str(self.port), "--workers", "1",
                   "--app-name", "basic-auth"]
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"\n== aesweep.server: {time.strftime('%Y-%m-%d %H:%M:%S')} "
                      f"{self.url} ==\n".encode())
            log.flush()
            # Its own process group: stop() ends uvicorn and its worker with it, and a
            # Ctrl-C in the terminal reaches only us.
            self._proc = subprocess.Popen(command, cwd=self.directory, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        self._wait_healthy()
        self._check_auth()

    def _fail(self, message: str) -> ServerError:
        return ServerError(f"{message}; see {self.log_path}\n"
                           f"{tail(self.log_path, offset=self._log_offset)}")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self._proc is not None
            if (code := self._proc.poll()) is not None:
                raise self._fail(f"mlflow server exited with code {code} while starting")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=5).ok:
                    return
            if time.monotonic() > deadline:
                raise self._fail(f"mlflow server did not answer {self.url}/health within "
                                 f"{self.start_timeout:g} s")
            time.sleep(0.5)

    def _check_auth(self) -> None:
        """Refuse anonymous requests, accept the admin's."""
        url = f"{self.url}{PROBE}"
        anonymous = requests.get(url, params={"max_results": 1}, timeout=30)
        if anonymous.status_code != 401:
            raise self._fail(f"mlflow server answered HTTP {anonymous.status_code} without "
                             f"credentials: basic auth is not on")
        admin = requests.get(url, params={"max_results": 1}, timeout=30,
                             auth=(self.username, self.password))
        if admin.status_code == 401:
            saved = self.directory / "secrets" / "admin_password"
            where = PASSWORD_ENV if os.environ.get(PASSWORD_ENV) else saved
            raise ServerError(f"the server refuses {self.username!r} with the password from "
                              f"{where}: its users were created at the first start with "
                              f"another; set {PASSWORD_ENV} to that one (unset, {saved} is "
                              f"used)")
        if not admin.ok:
            raise self._fail(f"mlflow server answered HTTP {admin.status_code} to the admin")

    def wait(self) -> int:
        """Block until mlflow server exits (it should not: stop() ends it); its code."""
        assert self._proc is not None
        return self._proc.wait()

    def stop(self) -> None:
        """End mlflow server's process group (SIGTERM, then SIGKILL after a grace period),
        then PostgreSQL. Safe to call twice, and after a failed start."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                members: list[psutil.Process] = []
                if proc.poll() is None:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        main = psutil.Process(proc.pid)
                        members = [main, *main.children(recursive=True)]
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                # uvicorn's worker may outlive the CLI that started it by a moment.
                _, stuck = psutil.wait_procs(alive(members), timeout=STOP_SECONDS)
                for process in stuck:
                    with contextlib.suppress(psutil.Error):
                        process.kill()
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        finally:
            self.postgres.stop()
