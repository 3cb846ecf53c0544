"""The tracking server under load: 32 concurrent clients each log complete job results
(bench/server_load.py) for 20 s, and the server keeps every run, metric point and
artifact. Prints jobs/s and latency; ``AESWEEP_LOAD_REPORT=PATH`` writes them as JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from aesweep.server import TrackingServer

# bench/ is not a package; appended, its modules shadow nothing.
sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))
import server_load

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]

CLIENTS, SECONDS = 32, 20.0


def test_32_clients_lose_nothing(tracking_server: TrackingServer) -> None:
    result = server_load.run_load(tracking_server.url, tracking_server.username,
                                  tracking_server.password, CLIENTS, SECONDS,
                                  server_processes=tracking_server.processes())
    result["projection"] = server_load.projection(result["jobs_per_s"])
    print("\n" + server_load.describe(result))
    if report := os.environ.get("AESWEEP_LOAD_REPORT"):
        Path(report).write_text(json.dumps(result, indent=1) + "\n")
    assert result["errors"] == 0, result["error_samples"]
    assert result["jobs"] >= CLIENTS  # every client finished at least one job
    assert result["check"]["runs_checked"] == result["jobs"]
    assert result["check"]["lost"] == 0, result["check"]
