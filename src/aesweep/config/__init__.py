"""The config layer: typed schemas behind ``conf/`` and the checks that run before any job."""

from aesweep.config.compose import compose_config, config_dir, share_config_store
from aesweep.config.schema import register_configs
from aesweep.config.validation import config_hash, validate_config

__all__ = ["compose_config", "config_dir", "config_hash", "register_configs",
           "share_config_store", "validate_config"]
