"""Errors a user can fix: each names the config key or file at fault and what is allowed,
and :func:`fail` is the one way they reach the terminal."""

from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

# Exit codes: a user's bad input, and a run that failed for any other reason.
BAD_INPUT, FAILED = 2, 1


class AesweepError(Exception):
    """A problem with the user's input; reported as one line, exit code 2."""


class ConfigError(AesweepError):
    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class DataError(AesweepError):
    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


def one_line(error: BaseException) -> str:
    """The first line of an error's message, prefixed by its type unless it is ours."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, AesweepError):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def fail(error: BaseException, prog: str = "aesweep", code: int | None = None) -> NoReturn:
    """Print ``<prog>: error: <one line>`` and exit: 2 for bad input, else 1. The whole
    traceback comes first only with ``HYDRA_FULL_ERROR=1``, as in Hydra's own errors."""
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    sys.stdout.flush()
    if full:
        traceback.print_exception(error)
    line = one_line(error)
    if not full and not isinstance(error, AesweepError):
        line += " (HYDRA_FULL_ERROR=1 shows the traceback)"
    print(f"{prog}: error: {line}", file=sys.stderr, flush=True)
    sys.exit(code if code is not None else BAD_INPUT if isinstance(error, AesweepError)
             else FAILED)
