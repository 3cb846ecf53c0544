"""Errors a user can fix: each names the config key or file at fault and what is allowed."""

from __future__ import annotations


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
