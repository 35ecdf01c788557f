"""Installed, linkdesk is one namespace: the wheel holds every module of the
rooms under `linkdesk/`, and no top-level `agi`, `ami`, `bridge`, `dialplan`
or `metrics` package that could collide with another project's."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("agi", "ami", "bridge", "dialplan", "metrics")


def source_copy(into: Path) -> Path:
    """What the wheel is built from, copied: a build writes build/ and *.egg-info beside its sources."""
    into.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, into / name)
    for room in ROOMS:
        shutil.copytree(REPO / room, into / room, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def test_the_wheel_installs_every_room_under_the_linkdesk_namespace(tmp_path):
    source = source_copy(tmp_path / "source")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("linkdesk-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    python = {name for name in names if name.endswith(".py")}
    expected = {f"linkdesk/{path.relative_to(REPO).as_posix()}"
                for room in ROOMS for path in (REPO / room).rglob("*.py")}
    assert expected <= python, sorted(expected - python)
    assert {name.split("/")[0] for name in python} == {"linkdesk"}
