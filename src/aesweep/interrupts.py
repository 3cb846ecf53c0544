"""Ctrl-C and SIGTERM that stop a job even where Python drops them.

A signal handler's KeyboardInterrupt is raised at whatever bytecode runs next. When that is
a ``__del__`` method or a weakref callback (TensorFlow and MLflow run both during a job),
Python prints "Exception ignored in ..." and goes on: the job would train to the end and
finish as if nobody had pressed Ctrl-C. :func:`interrupt` also records the signal, and
:func:`raise_pending`, called at every epoch end, raises it again where nothing swallows it.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import NoReturn

_pending = False


def interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    """The signal handler: SIGTERM ends a job the same way Ctrl-C does."""
    global _pending
    _pending = True
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGTERM, and SIGINT unless someone else already does (main thread only)."""
    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)


def raise_pending(*_: object) -> None:
    """Raise KeyboardInterrupt if a signal arrived that nobody has acted on; an epoch hook."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt


def acted_on() -> None:
    """The interrupt reached the job: nothing is pending any more."""
    global _pending
    _pending = False
