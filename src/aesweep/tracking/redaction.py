"""What may be logged: no credential and no value read from the environment reaches the
tracking store, whether in params, tags, run names or text artifacts.

Two rules, applied by :class:`Redactor` to every text aesweep logs:

- credentials in any URI (``scheme://user:password@host``) become ``user:***``;
- every value read from the environment (``${oc.env:...}``, directly or through other
  keys) is logged as ``<from environment>``, and its text is masked wherever else it
  appears (an error message quoting it, say).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from aesweep.names import ENV_MASK

MASK = "***"
# Keys never logged: a tracking URI can carry credentials; the parent run is a tag.
PRIVATE_KEYS = frozenset({"tracking.uri", "tracking.parent_run_id"})
# userinfo in a URI: "user:password@" or a bare token "token@"; Hydra's log lines escape
# the colons (http\://user\:password@host)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*\\?://)(?P<userinfo>[^\s/?#@]+)@")
# An interpolation of the environment, as typed or as Hydra escapes it: ${oc.env:X}, $\{env\:X\}
ENV_INTERPOLATION = re.compile(r"\$\\?\{\s*(oc\.)?env\s*\\?:")
# Shorter values cannot be masked as text without mangling everything else.
MIN_SECRET_LENGTH = 4


def redact_uris(text: str) -> str:
    """``http://user:pw@host`` -> ``http://user:***@host``; ``https://token@host`` ->
    ``https://***@host``."""
    def hide(match: re.Match[str]) -> str:
        user, colon, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user + ':' if colon else ''}{MASK}@"

    return _USERINFO.sub(hide, text)


def redact_logs() -> None:
    """Redact URI credentials in every log record from now on: Hydra's launchers log each
    job's overrides, ``++tracking.uri=http://user:password@...`` included. A record
    factory, not a handler filter, because Hydra reconfigures logging when it launches."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts_uris", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging to report
            return record
        redacted = redact_uris(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return record

    make_record.redacts_uris = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def env_keys(cfg: DictConfig) -> set[str]:
    """Dotted keys whose value is read from the environment, directly or by interpolation."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(tree, dict)
    tree.pop("hydra", None)
    texts = {key: value for key, value in flatten(tree).items() if isinstance(value, str)}
    private = {key for key, text in texts.items() if ENV_INTERPOLATION.search(text)}
    grew = True
    while grew:  # keys that interpolate a private key are private too
        extra = {key for key, text in texts.items()
                 if key not in private and any("${" + p in text for p in private)}
        private |= extra
        grew = bool(extra)
    return private


class Redactor:
    """Makes text, configs and overrides safe to log, for one config.

    ``cfg`` is a job's config or the driver's (its ``hydra`` node is ignored).
    """

    def __init__(self, cfg: DictConfig | None = None) -> None:
        self.env_keys = env_keys(cfg) if cfg is not None else set()
        secrets = set()
        for key in self.env_keys:
            try:
                value = OmegaConf.select(cfg, key)
            except Exception:  # an unset variable: nothing to mask
                continue
            if isinstance(value, str | int | float) and len(str(value)) >= MIN_SECRET_LENGTH:
                secrets.add(str(value))
        self._secrets = sorted(secrets, key=len, reverse=True)  # longest first

    def text(self, text: str) -> str:
        """``text`` without URI credentials or any value read from the environment."""
        text = redact_uris(str(text))
        for secret in self._secrets:
            text = text.replace(secret, ENV_MASK)
        return text

    def texts(self, mapping: dict[str, Any]) -> dict[str, str]:
        return {key: self.text(str(value)) for key, value in mapping.items()}

    def is_env(self, key: str, value_text: str = "") -> bool:
        """Whether an override of ``key`` with ``value_text`` carries an environment value."""
        return key in self.env_keys or bool(ENV_INTERPOLATION.search(value_text))

    def config(self, cfg: DictConfig) -> dict[str, Any]:
        """The resolved config as a tree fit to log: without ``PRIVATE_KEYS``, with every
        value from the environment masked and URI credentials redacted."""
        tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        assert isinstance(tree, dict)
        tree.pop("hydra", None)
        for key in PRIVATE_KEYS | self.env_keys:
            *path, leaf = key.split(".")
            node: Any = tree
            for part in path:
                node = node.get(part, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict) and leaf in node:
                if key in PRIVATE_KEYS:
                    del node[leaf]
                else:
                    node[leaf] = ENV_MASK
        return _map_strings(tree, self.text)

    def params(self, cfg: DictConfig) -> dict[str, str]:
        """The config as MLflow params: dotted keys, values as text."""
        return {key: str(value) for key, value in flatten(self.config(cfg)).items()}


def _map_strings(tree: Any, function: Any) -> Any:
    if isinstance(tree, dict):
        return {key: _map_strings(value, function) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_map_strings(value, function) for value in tree]
    return function(tree) if isinstance(tree, str) else tree
