"""A private PostgreSQL cluster for the tracking server: created once under a directory,
listening on 127.0.0.1 only, started and stopped with ``pg_ctl``.

Access: the unix socket (in a directory only the cluster's owner can enter) trusts the
superuser ``postgres``; TCP takes the role ``mlflow`` with a password (scram-sha-256), so
another local user cannot open the tracking data, or the users' password hashes, with psql.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import psutil

from aesweep.errors import AesweepError

ROLE = "mlflow"
DATABASES = ("mlflow", "mlflow_auth")  # tracking data, and the basic-auth app's users
SUPERUSER = "postgres"
# Room for both of mlflow's connection pools at their fullest (see tracking.POOL), and psql.
MAX_CONNECTIONS = 300
PG_START_SECONDS = 120
# sun_path holds 108 bytes with the final NUL: a longer socket path cannot be bound.
SOCKET_PATH_MAX = 107
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
INSTALL_HINT = ("install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql; "
                "macOS: brew install postgresql@15) or put its bin/ directory on PATH")
HBA = """\
# Written by aesweep.server at every start.
# The socket lives in a directory only the cluster's owner (and root) can enter.
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
"""


class ServerError(AesweepError):
    """A server would not start: the message's first line says why, the rest is the tail
    of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ensure_free(host: str, port: int, key: str) -> None:
    """Raise a one-line error naming ``key`` if ``host:port`` cannot be listened on."""
    with socket.socket() as sock:
        # As a server binds: a port whose last connection is in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise AesweepError(f"{key} {port}: cannot listen on {host}:{port} "
                               f"({exc.strerror or exc}); choose another {key}") from None


def tail(path: Path, lines: int = 20, offset: int = 0) -> str:
    """The last lines of a log file from ``offset`` on (this start's output only)."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            text = file.read().decode(errors="replace")
    except OSError:
        return f"({path} is unreadable)"
    return "\n".join(text.strip().splitlines()[-lines:])


def _version(directory: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", directory.parent.name)) or (0,)


def find_binaries() -> Path:
    """The directory holding initdb, pg_ctl and postgres: PATH first, then the newest
    /usr/lib/postgresql/*/bin (Debian installs the server there, off PATH)."""
    wanted = ("initdb", "pg_ctl", "postgres")
    candidates = []
    if found := shutil.which("pg_ctl"):
        candidates.append(Path(found).resolve().parent)
    candidates += sorted(DEBIAN_BINARIES.glob("*/bin"), key=_version, reverse=True)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in wanted):
            return directory
    raise AesweepError(f"PostgreSQL's initdb, pg_ctl and postgres were not found on PATH nor "
                       f"in /usr/lib/postgresql/*/bin; {INSTALL_HINT}")


class Postgres:
    """One cluster: ``directory/data`` (PGDATA), ``directory/run`` (the unix socket),
    ``directory/postgres.log``. Under root, everything runs as the ``postgres`` user:
    initdb and postgres refuse to run as root."""

    def __init__(self, directory: Path, port: int | None = None, durable: bool = True,
                 password: str = "") -> None:
        self.directory = Path(directory).absolute()
        self.data = self.directory / "data"
        self.sockets = self.directory / "run"
        self.log = self.directory / "postgres.log"
        self.port = port or free_port()
        self.durable = durable
        self.password = password  # the ROLE's; set by the caller before start()
        self._bin: Path | None = None
        self._started = False  # by us: stop() must not end a cluster another process runs
        self._owner = self._run_as()

    # ------------------------------------------------------------------ running commands

    @staticmethod
    def _run_as() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise AesweepError("running as root, and PostgreSQL refuses root: create a "
                               "'postgres' system user (useradd --system postgres) or run "
                               "as a non-root user") from None

    def _command(self, name: str, *args: str, timeout: float = PG_START_SECONDS + 60,
                 ) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        # libpq and pg_ctl read PG* variables (PGDATA, PGPORT): the user's shell may point
        # them at another cluster.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        extra: dict[str, Any] = {}
        if self._owner is not None:
            env |= {"HOME": str(self.directory), "USER": self._owner.pw_name,
                    "LOGNAME": self._owner.pw_name}
            extra = {"user": self._owner.pw_uid, "group": self._owner.pw_gid,
                     "extra_groups": []}  # drop root's supplementary groups too
        return subprocess.run([str(self._bin / name), *args], cwd=self.directory, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False,
                              start_new_session=True, **extra)  # Ctrl-C is ours to handle

    def _own(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        self._own(path)

    def _check_reachable(self) -> None:
        """Under root, postgres must be able to walk down to its directory."""
        if self._owner is None:
            return
        uid, gids = self._owner.pw_uid, set(os.getgrouplist(self._owner.pw_name,
                                                             self._owner.pw_gid))
        for parent in reversed(self.directory.parents):
            st = parent.stat()
            bit = (0o100 if st.st_uid == uid else 0o010 if st.st_gid in gids else 0o001)
            if not st.st_mode & bit:
                raise AesweepError(
                    f"PostgreSQL runs as the 'postgres' user under root, and it cannot enter "
                    f"{parent} (mode {st.st_mode & 0o777:04o}); choose a directory it can "
                    f"reach, allow it (chmod o+x {parent}), or run as a non-root user")

    # ------------------------------------------------------------------ lifecycle

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while the cluster runs."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def processes(self) -> list[psutil.Process]:
        pid = self.pid
        try:
            main = psutil.Process(pid) if pid else None
            return [main, *main.children(recursive=True)] if main else []
        except psutil.NoSuchProcess:
            return []

    def start(self) -> None:
        self._bin = find_binaries()
        socket_path = self.sockets / f".s.PGSQL.{self.port}"
        if len(str(socket_path).encode()) > SOCKET_PATH_MAX:
            raise AesweepError(f"the PostgreSQL socket path {socket_path} is longer than the "
                               f"{SOCKET_PATH_MAX} bytes the OS allows; choose a shorter "
                               f"directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        self._own(self.directory)
        self._check_reachable()
        self.sockets.mkdir(mode=0o700, exist_ok=True)
        self._own(self.sockets)
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        self._check_version()
        if self._command("pg_ctl", "status", "-D", str(self.data)).returncode == 0:
            raise AesweepError(f"a PostgreSQL server already runs on {self.data} (pid "
                               f"{self.pid}): another aesweep-server uses this directory, or "
                               f"one was killed; stop it: {self._bin / 'pg_ctl'} stop -D "
                               f"{self.data} -m fast")
        self._configure()
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._started = True  # from here on, a failure may leave a postmaster to stop
        done = self._command("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log),
                             "-w", "-t", str(PG_START_SECONDS), "-s")
        if done.returncode != 0:
            raise ServerError(f"PostgreSQL did not start; see {self.log}\n"
                              f"{done.stderr.strip()}\n{tail(self.log, offset=offset)}")
        self._provision()

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: sessions end, the cluster checkpoints and exits.
        A no-op when it does not run."""
        if not self._started or self.pid is None:
            return
        self._started = False
        done = self._command("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w",
                             "-t", "60", "-s")
        if done.returncode != 0 and self.pid is not None:  # stuck: crash-safe, WAL replays
            self._command("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def _initdb(self) -> None:
        if self.data.exists() and any(self.data.iterdir()):
            raise AesweepError(f"{self.data} is not empty and holds no PostgreSQL cluster "
                               f"(no PG_VERSION); move it away")
        args = ["-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                "--no-locale", "--no-instructions"]
        done = self._command("initdb", *args, *([] if self.durable else ["--no-sync"]))
        if done.returncode != 0:
            raise AesweepError(f"initdb failed on {self.data}: "
                               f"{(done.stderr or done.stdout).strip()}")

    def _check_version(self) -> None:
        cluster = (self.data / "PG_VERSION").read_text().strip()
        binaries = self._command("postgres", "--version").stdout  # "postgres (PostgreSQL) 15.18"
        major = re.search(r"\(PostgreSQL\)\s+(\d+)", binaries)
        if major and major.group(1) != cluster:
            raise AesweepError(f"{self.data} is a PostgreSQL {cluster} cluster but "
                               f"{self._bin} holds PostgreSQL {major.group(1)}; use the "
                               f"{cluster} binaries (put them first on PATH) or pg_upgrade it")

    def _configure(self) -> None:
        """This start's settings, in a file postgresql.conf includes (no shell quoting)."""
        conf = self.data / "postgresql.conf"
        include = "include_if_exists = 'aesweep.conf'"
        if include not in conf.read_text():
            with conf.open("a") as file:
                file.write(f"\n# aesweep.server: listen address, port, socket, durability\n"
                           f"{include}\n")
        settings = {"listen_addresses": "127.0.0.1", "port": str(self.port),
                    "unix_socket_directories": str(self.sockets),
                    "max_connections": str(MAX_CONNECTIONS)}
        if not self.durable:  # tests: a crash may lose data, a clean stop does not
            settings |= {"fsync": "off", "synchronous_commit": "off",
                         "full_page_writes": "off"}
        lines = [f"{key} = '{value.replace(chr(39), chr(39) * 2)}'"
                 for key, value in settings.items()]
        self._write(self.data / "aesweep.conf", "\n".join(lines) + "\n")
        self._write(self.data / "pg_hba.conf", HBA)

    def connect(self, database: str = "postgres") -> Any:
        """A psycopg2 connection as the superuser, over the unix socket."""
        import psycopg2

        return psycopg2.connect(host=str(self.sockets), port=self.port, user=SUPERUSER,
                                dbname=database)

    def _provision(self) -> None:
        """The role and the databases, once; the role's password at every start (it may
        have come from the environment)."""
        connection = self.connect()
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
                verb = "ALTER" if cursor.fetchone() else "CREATE"
                cursor.execute(f"{verb} ROLE {ROLE} LOGIN PASSWORD %s", (self.password,))
                for database in DATABASES:
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                    if not cursor.fetchone():
                        cursor.execute(f"CREATE DATABASE {database} OWNER {ROLE}")
        finally:
            connection.close()

    def uri(self, database: str) -> str:
        """A SQLAlchemy URI for ``database`` over TCP, without the password (libpq reads
        it from the PGPASSFILE the caller writes). psycopg2 by name: SQLAlchemy 2.1's
        default PostgreSQL driver is psycopg 3."""
        return f"postgresql+psycopg2://{ROLE}@127.0.0.1:{self.port}/{database}"
