"""A real tracking server (PostgreSQL + ``mlflow server`` with basic auth) for the whole
test session: ``pytest_plugins = ["server_fixture"]`` in conftest.py registers it once, so
every module that asks for ``tracking_server`` shares one server."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aesweep.server import TrackingServer


def server_directory(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh directory for a server. Under root, PostgreSQL runs as the ``postgres``
    user, which cannot enter pytest's private (0700) temporary tree: there it is a
    directory of /tmp that user may walk through (but not list), removed at exit."""
    if os.geteuid() != 0:
        return tmp_path_factory.mktemp(name)
    path = Path(tempfile.mkdtemp(prefix=f"aesweep-{name}-"))
    path.chmod(0o711)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    """Started once, on free ports; fsync off (``durable=False``): a crash may lose its
    data, a clean stop does not."""
    server = TrackingServer(server_directory(tmp_path_factory, "server") / "server",
                            durable=False)
    with server:
        yield server
