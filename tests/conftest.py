"""Fixtures and hooks shared by every test module."""

from __future__ import annotations

from pathlib import Path

import pytest

# Re-exported for modules that import these helpers from ``conftest`` (test_sweep.py does).
from helpers import (  # noqa: F401
    TINY,
    aesweep_command,
    compose_config,
    describe,
    run_cli,
    run_statuses,
    store_args,
    store_uri,
)

pytest_plugins = ["server_fixture"]  # the session's tracking server (tracking_server)


@pytest.fixture(autouse=True)
def _no_mlflow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's set_tracking_uri exports MLFLOW_TRACKING_URI, and the composed config reads
    it: a test that used MLflow's fluent API must not redirect the next test's store."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME",
                 "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli_root(tmp_path: Path) -> Path:
    """A scratch directory to run the CLI in (its default ``outputs/`` would land here)."""
    root = tmp_path / "cli"
    root.mkdir()
    return root


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep ``--dist loadgroup`` grouping by ``xdist_group`` on pytest >= 9.2.

    pytest-xdist tags a grouped test by appending ``@group`` to ``item._nodeid``; pytest 9.2
    derives node ids from ``item._id`` instead, so the suffix is silently lost and a module's
    tests (and its module-scoped CLI run) get split over workers
    (https://github.com/pytest-dev/pytest-xdist/issues/1386). Apply the suffix to ``_id``
    when xdist's own attempt did not take effect; a no-op everywhere else.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = {str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                  for mark in item.iter_markers("xdist_group")}
        if not groups:
            continue
        suffix = "@" + "_".join(sorted(groups))
        node_id = getattr(item, "_id", None)
        if item.nodeid.endswith(suffix) or not hasattr(type(node_id), "parse"):
            continue
        item._id = type(node_id).parse(item.nodeid + suffix)
