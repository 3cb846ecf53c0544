"""The wheel carries conf/ and experiments/, so an installed aesweep composes anywhere."""

from __future__ import annotations

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


@pytest.mark.slow
def test_installed_app_composes_outside_the_checkout(unpacked_wheel: Path,
                                                     tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(unpacked_wheel)}
    probe = subprocess.run(
        [sys.executable, "-c", "import aesweep.app as a; print(a.__file__); print(a.config_dir())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    module_file, config_dir = probe.stdout.split()
    assert Path(module_file).is_relative_to(unpacked_wheel)
    assert Path(config_dir) == unpacked_wheel / "aesweep" / "conf"

    shown = subprocess.run(
        [sys.executable, "-m", "aesweep.app", "+experiment=seed_article", "--cfg", "job"],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "n_features: 500" in shown.stdout
    assert "epochs: 50" in shown.stdout
