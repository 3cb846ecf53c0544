"""``aesweep-server``: start the tracking service, print what a client needs, stop it
cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from aesweep.errors import AesweepError, fail
from aesweep.server.postgres import ensure_free
from aesweep.server.tracking import PASSWORD_ENV, SECRET_KEY_ENV, ServerError, TrackingServer

PROG = "aesweep-server"
DEFAULT_PORT = 5001  # make ui serves 5000

EPILOG = f"""\
What it runs, all under --dir (kept between starts: runs, users and credentials survive):
  a PostgreSQL cluster on 127.0.0.1 (postgres/), created at the first start, and
  mlflow server --backend-store-uri postgresql+psycopg2://mlflow@127.0.0.1:PGPORT/mlflow
    --serve-artifacts --artifacts-destination DIR/artifacts --app-name basic-auth
    --host HOST --port PORT --workers 1
The admin's password and the Flask secret key come from {PASSWORD_ENV} and
{SECRET_KEY_ENV} if set, else from DIR/secrets/ (created once, mode 0600). Add
team members with MLflow's API (POST /api/2.0/mlflow/users/create, as the admin);
every user may log to every experiment.

This is a one-machine service for a team on a trusted network. A real deployment runs
the same server on its own host, against a managed database and object store, behind
TLS (basic auth sends passwords in clear over plain HTTP):
  mlflow server --backend-store-uri postgresql://USER@DBHOST/mlflow \\
    --serve-artifacts --artifacts-destination s3://bucket/mlartifacts \\
    --app-name basic-auth --host 0.0.0.0 --workers 4 --allowed-hosts mlflow.example.com
with MLFLOW_AUTH_CONFIG_PATH naming an ini whose database_uri is a PostgreSQL database
too, MLFLOW_FLASK_SERVER_SECRET_KEY the same on every replica, and the database's
password in PGPASSFILE or a secret store, never in the URI.
"""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM and SIGHUP stop the server as Ctrl-C does


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Start a team MLflow tracking server (basic auth, PostgreSQL, proxied "
                    "artifacts) on this machine; Ctrl-C stops it.")
    parser.add_argument("--dir", type=Path, default=Path("outputs/server"),
                        help="where the database, artifacts, credentials and logs live "
                             "(default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s; 0.0.0.0 exposes "
                             "it to your network, in clear text)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port to listen on (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    # SIGINT too: a shell starts a background job with SIGINT ignored, and Python keeps that.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    server = None
    try:
        ensure_free(options.host, options.port, "--port")  # before minutes of start-up
        server = TrackingServer(options.dir, host=options.host, port=options.port)
        if options.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"{PROG}: warning: listening on {options.host}: passwords cross the network "
                  f"in clear text (plain HTTP); put a TLS proxy in front", file=sys.stderr)
        print(f"{PROG}: starting PostgreSQL and mlflow server in {server.directory} "
              f"(under a minute)...", flush=True)
        server.start()
        print(f"{PROG}: MLflow tracking server at {server.url} (logs: {server.log_path})\n"
              f"Log to it from a shell (aesweep and every MLflow client read these):\n"
              + "".join(f"  export {k}={shlex.quote(v)}\n"
                        for k, v in server.client_env().items())
              + "Ctrl-C stops it; everything stays in the directory for the next start.",
              flush=True)
        code = server.wait()
        raise ServerError(f"mlflow server exited with code {code}; see {server.log_path}")
    except KeyboardInterrupt:
        print(f"\n{PROG}: stopping", flush=True)
        return 0
    except AesweepError as error:
        if isinstance(error, ServerError) and "\n" in str(error):
            print(str(error).split("\n", 1)[1], file=sys.stderr)  # the log's tail
        fail(error, prog=PROG)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        if server is not None:
            server.stop()
            print(f"{PROG}: stopped", flush=True)
