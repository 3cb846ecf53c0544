"""``aesweep --help``: the app, what it does, its most-used commands, and every group a user
picks from with its options (the groups of ``conf/``, and the sweepers and launchers aesweep
offers); none of the schemas and none of Hydra's stock text. ``--hydra-help`` stays Hydra's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from aesweep.config import config_dir, register_configs

from helpers import describe, run_cli

CONF = Path(config_dir())
# Hydra's own groups that aesweep offers a choice in; its others stay in --hydra-help.
HYDRA_GROUPS = ("hydra/sweeper", "hydra/launcher")


def listed(text: str) -> dict[str, list[str]]:
    """``group: a, b, c`` lines of a help screen, as {group: [a, b, c]}."""
    return {m["group"]: m["options"].split(", ")
            for m in re.finditer(r"^(?P<group>[\w/]+): (?P<options>[\w, ]+)$", text, re.M)}


@pytest.fixture(scope="module")
def help_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    cwd = tmp_path_factory.mktemp("help")
    result = run_cli(["--help"], cwd=cwd, timeout=120)
    assert result.returncode == 0, describe(result)
    assert not (cwd / "outputs").exists()
    return result.stdout


def test_help_names_the_app_and_its_most_used_commands(help_text: str) -> None:
    assert help_text.startswith("aesweep: train an autoencoder")
    for command in ("aesweep -m +experiment=quickstart", "aesweep -m architecture.bottleneck=",
                    "aesweep-report", "make ui", "aesweep --cfg job"):
        assert command in help_text, command


def test_help_lists_every_group_of_conf_with_its_options(help_text: str) -> None:
    groups = listed(help_text)
    in_conf = {d.name: sorted(p.stem for p in d.glob("*.yaml"))
               for d in CONF.iterdir() if d.is_dir() and d.name != "schema"}
    assert in_conf, CONF
    for group, options in in_conf.items():
        assert groups.get(group) == options, (group, help_text)


def test_help_lists_the_sweepers_and_launchers_hydra_has(help_text: str) -> None:
    groups = listed(help_text)
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        for group in HYDRA_GROUPS:
            assert group in groups, help_text
            assert set(groups[group]) <= set(loader.get_group_options(group)), group


def test_help_leaves_out_schemas_and_hydras_stock_text(help_text: str) -> None:
    assert "schema" not in help_text
    assert "powered by hydra" not in help_text.lower()
    assert "== Config ==\nOverride anything" not in help_text  # Hydra's stock template
    hydra_groups = {g for g in listed(help_text) if g.startswith("hydra/")}
    assert hydra_groups == set(HYDRA_GROUPS)


def test_hydra_help_is_still_hydras(tmp_path: Path) -> None:
    result = run_cli(["--hydra-help"], cwd=tmp_path, timeout=120)
    assert result.returncode == 0, describe(result)
    assert "--multirun" in result.stdout and "hydra/launcher:" in result.stdout
