"""Puts the classic `linkdesk-agi` entry point inside the lab root, where the
chrooted PBXs can run it: linkdesk's pure-Python packages, pyst2 (and six,
which pyst2 imports), and a launcher in Asterisk's agi-bin."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from linkdesk.bridge.lab.layout import LabError, Paths, package_dir

LIB = "opt/linkdesk/lib"
LAUNCHER = "usr/share/asterisk/agi-bin/linkdesk-agi"
OWN_PACKAGES = ("agi", "bridge", "dialplan")
THIRD_PARTY = ("asterisk", "six")
LAUNCHER_TEXT = f"""#!/usr/bin/python3
# Installed by `linkdesk lab up`: linkdesk's classic AGI entry point for the lab PBXs.
import sys
sys.path.insert(0, "/{LIB}")
from linkdesk.bridge.cli.classic_agi import main
sys.exit(main())
"""


def install_agi_entry(paths: Paths) -> None:
    """Copy the code the classic entry point needs into the root, and its launcher."""
    if not (paths.root / "usr/bin/python3").exists():
        raise LabError("the lab root has no python3 for linkdesk-agi: run `linkdesk lab provision`")
    lib = paths.root / LIB
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    for name in OWN_PACKAGES:
        shutil.copytree(package_dir(f"linkdesk.{name}"), lib / "linkdesk" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in THIRD_PARTY:
        _copy_module(name, lib)
    launcher = paths.root / LAUNCHER
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(LAUNCHER_TEXT)
    launcher.chmod(0o755)


def _copy_module(name: str, lib: Path) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise LabError(f"python module {name} is not installed: install linkdesk with its dependencies "
                       "(`pip install linkdesk-*.whl`, or `pip install -e .` in a checkout)")
    origin = Path(spec.origin)
    if origin.name == "__init__.py":
        shutil.copytree(origin.parent, lib / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(origin, lib / origin.name)
