"""A team tracking service: ``mlflow server`` with basic auth and proxied artifacts over a
private PostgreSQL cluster, on this machine (``aesweep-server``, ``make server``)."""

from aesweep.server.cli import main
from aesweep.server.tracking import ServerError, TrackingServer

__all__ = ["ServerError", "TrackingServer", "main"]
