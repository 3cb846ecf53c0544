"""Puts aesweep's ``hydra/launcher=ray`` in place of the upstream config of that name.

Hydra imports every module under ``hydra_plugins`` once at start-up, in an order that
depends on how the packages were installed, and each module's ConfigStore entries replace
earlier ones of the same name; so whether ``hydra-ray-launcher``'s own ``ray`` entry or
ours would win is up to chance. Search path plugins are called after that import, each
time Hydra builds its config search path: registering ours here makes it win, always. (A
YAML file of the same name would be merged onto the upstream schema, with a deprecation
warning.)
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from hydra_plugins.aesweep_plugins import ray_launcher


class AesweepSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        ray_launcher.register()
