"""The wheel carries conf/ and experiments/, so an installed aesweep composes anywhere."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(out), str(ROOT)], check=True)
    (wheel,) = out.glob("aesweep-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_wheel_ships_config_groups_and_experiments(unpacked_wheel: Path) -> None:
    conf = unpacked_wheel / "aesweep" / "conf"
    for name in ("config.yaml", "dataset/csv.yaml", "architecture/dense.yaml",
                 "experiment/seed_article.yaml", "experiment/quickstart.yaml"):
        assert (conf / name).is_file(), name


def entry_point(site: Path, name: str) -> str:
    """What the wheel's console script ``name`` runs: ``module:function``."""
    (entry_points,) = site.glob("aesweep-*.dist-info/entry_points.txt")
    parser = configparser.ConfigParser()
    parser.read_string(entry_points.read_text())
    return parser["console_scripts"][name]


def test_wheel_declares_the_console_scripts(unpacked_wheel: Path) -> None:
    assert entry_point(unpacked_wheel, "aesweep") == "aesweep.app:main"
    assert entry_point(unpacked_wheel, "aesweep-report") == "aesweep.report.cli:main"
    assert entry_point(unpacked_wheel, "aesweep-server") == "aesweep.server:main"


def test_wheel_ships_the_hydra_plugins_in_their_namespace(unpacked_wheel: Path) -> None:
    plugins = unpacked_wheel / "hydra_plugins"
    assert not (plugins / "__init__.py").exists()  # a namespace package, shared with others
    for name in ("sweeper.py", "ray_launcher.py", "search_path.py"):
        assert (plugins / "aesweep_plugins" / name).is_file(), name


@pytest.mark.slow
def test_installed_app_composes_outside_the_checkout(unpacked_wheel: Path,
                                                     tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(unpacked_wheel)}
    probe = subprocess.run(
        [sys.executable, "-c", "import aesweep.app as a, aesweep.config as c; "
                               "print(a.__file__); print(c.config_dir())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    module_file, config_dir = probe.stdout.split()
    assert Path(module_file).is_relative_to(unpacked_wheel)
    assert Path(config_dir) == unpacked_wheel / "aesweep" / "conf"

    # What the wheel's console script runs, as pip's generated launcher runs it.
    module, function = entry_point(unpacked_wheel, "aesweep").split(":")
    launcher = f"import sys; sys.argv[0] = 'aesweep'; from {module} import {function}; {function}()"
    shown = subprocess.run(
        [sys.executable, "-c", launcher, "+experiment=seed_article", "--cfg", "job"],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "n_features: 500" in shown.stdout
    assert "epochs: 50" in shown.stdout
