"""Resuming a sweep: skip what already FINISHED, and fail runs whose process died.

A run is matched to a job by its ``config_hash`` tag. A RUNNING run is stale when the
process that owns it (its host, pid and the pid's start time, as tags) is gone from
this host, or, from any host, when the sweep it belongs to has ended.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from aesweep.names import (
    HASH_TAG,
    HOST_TAG,
    PARENT_TAG,
    PID_STARTED_TAG,
    PID_TAG,
    ROLE_TAG,
    STALE_TAG,
    SWEEP_ROLE,
)


def owner_tags() -> dict[str, str]:
    """Tags that identify this process, so a later sweep can tell if it died."""
    process = psutil.Process()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(process.pid),
            PID_STARTED_TAG: repr(process.create_time())}


def is_alive(run: Run) -> bool | None:
    """Whether the process that owns a RUNNING run still exists; None when unknowable
    (no owner tags, or another host)."""
    tags = run.data.tags
    if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
        return None
    pid = int(tags[PID_TAG])
    if pid == os.getpid():
        return True
    try:
        return repr(psutil.Process(pid).create_time()) == tags.get(PID_STARTED_TAG)
    except psutil.NoSuchProcess:
        return False


def run_ended(client: MlflowClient, run_id: str) -> bool:
    """Whether a run is no longer RUNNING; a run deleted or not in this store counts as
    ended: nobody runs it here."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id).info.status != "RUNNING"
    except MlflowException:
        return True


def sweep_ended(client: MlflowClient, run: Run) -> bool:
    """Whether the sweep that ``run`` belongs to has ended: then no job of it still runs,
    on any machine."""
    parent = run.data.tags.get(PARENT_TAG)
    return bool(parent) and run_ended(client, parent)


def mark_stale(client: MlflowClient, run: Run) -> bool:
    """Mark a RUNNING run FAILED if its owner process died (seen on this host) or its
    sweep has ended (from any host); say whether it did."""
    alive = is_alive(run)
    tags = run.data.tags
    if alive is False:
        why = f"process {tags[PID_TAG]} on {tags[HOST_TAG]} died while RUNNING"
    elif alive is None and sweep_ended(client, run):
        why = f"its sweep {tags[PARENT_TAG]} ended while it was RUNNING"
    else:
        return False
    client.set_tag(run.info.run_id, STALE_TAG, why)
    client.set_terminated(run.info.run_id, "FAILED")
    return True


def fail_stale_sweeps(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark FAILED every sweep parent left RUNNING by a driver that died."""
    runs = client.search_runs([experiment_id], f"tags.`{ROLE_TAG}` = '{SWEEP_ROLE}' and "
                              "attributes.status = 'RUNNING'", max_results=1000)
    return [run.info.run_id for run in runs if mark_stale(client, run)]


@dataclass
class Previous:
    finished: str | None  # the id of a FINISHED run of the same config
    running_elsewhere: str | None  # the id of a RUNNING run whose process is alive
    stale: list[str]  # RUNNING runs whose process died; now marked FAILED


def find_previous(client: MlflowClient, experiment_id: str, config_hash: str) -> Previous:
    """Look up earlier runs of one config, marking dead RUNNING ones FAILED."""
    runs = client.search_runs([experiment_id], f"tags.`{HASH_TAG}` = '{config_hash}'",
                              max_results=1000, order_by=["attributes.start_time DESC"])
    finished = next((r.info.run_id for r in runs if r.info.status == "FINISHED"), None)
    running_elsewhere, stale = None, []
    for run in runs:
        if run.info.status != "RUNNING":
            continue
        if mark_stale(client, run):
            stale.append(run.info.run_id)
        elif is_alive(run) and run.data.tags[PID_TAG] != str(os.getpid()):
            running_elsewhere = run.info.run_id
    return Previous(finished, running_elsewhere, stale)
