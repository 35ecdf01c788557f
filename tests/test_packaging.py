"""Installed, linkdesk is one namespace: the wheel holds every module of the
rooms under `linkdesk/`, and no top-level `agi`, `ami`, `bridge`, `dialplan`
or `metrics` package that could collide with another project's; it holds
every file read at run time too, found through importlib.resources."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from linkdesk.bridge.cli.main import main as cli_main
from linkdesk.bridge.lab.layout import LabError, package_dir
from linkdesk.bridge.lab.phones import SippPhones
from linkdesk.dialplan.version import linkdesk_version

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("agi", "ami", "bridge", "dialplan", "metrics")
# The lab's site files ship as the package linkdesk.asterisk_config.
LAB_FILES = "asterisk-config"
METRICS_ASSETS = ("dashboard.json", "alerts.yml", "alerts_test.yml")


def source_copy(into: Path) -> Path:
    """What the wheel is built from, copied: a build writes build/ and *.egg-info beside its sources."""
    into.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, into / name)
    for room in (*ROOMS, LAB_FILES):
        shutil.copytree(REPO / room, into / room, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def build_wheel(workdir: Path) -> Path:
    """The wheel built from a copy of the sources, in `workdir`."""
    source = source_copy(workdir / "source")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(workdir), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return next(workdir.glob("linkdesk-*.whl"))


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    return set(zipfile.ZipFile(build_wheel(tmp_path_factory.mktemp("wheel"))).namelist())


def test_the_wheel_installs_every_room_under_the_linkdesk_namespace(wheel_names):
    python = {name for name in wheel_names if name.endswith(".py")}
    expected = {f"linkdesk/{path.relative_to(REPO).as_posix()}"
                for room in ROOMS for path in (REPO / room).rglob("*.py")}
    assert expected <= python, sorted(expected - python)
    assert {name.split("/")[0] for name in python} == {"linkdesk"}


def test_the_wheel_holds_the_dashboard_the_alert_rules_and_every_lab_file(wheel_names):
    lab = {f"linkdesk/asterisk_config/{path.relative_to(REPO / LAB_FILES).as_posix()}"
           for path in (REPO / LAB_FILES).rglob("*") if path.is_file() and "__pycache__" not in path.parts}
    expected = {f"linkdesk/metrics/{name}" for name in METRICS_ASSETS} | lab
    assert "linkdesk/asterisk_config/lab.toml" in expected
    assert expected <= wheel_names, sorted(expected - wheel_names)


def test_no_module_finds_its_files_by_a_path_relative_to_the_source_tree():
    # ("asterisk-config" alone is also a Debian package the lab root installs.)
    relative = re.compile(r"Path\(__file__\)|\.parents\[|/ *[\"']asterisk-config|[\"']asterisk-config/")
    found = [f"{path.relative_to(REPO)}:{number}" for room in ROOMS for path in (REPO / room).rglob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), 1) if relative.search(line)]
    assert found == [], "use importlib.resources (bridge/lab/layout.py package_dir)"


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"linkdesk {linkdesk_version()}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", linkdesk_version())


def test_a_package_that_is_no_folder_on_disk_is_refused_in_one_line(tmp_path, monkeypatch):
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_assets/__init__.py", "")
        zipped.writestr("zipped_assets/lab.toml", "")
    monkeypatch.syspath_prepend(str(archive))
    with pytest.raises(LabError) as refused:
        package_dir("zipped_assets")
    assert str(refused.value).count("\n") == 0
    assert str(refused.value).startswith("zipped_assets is not a folder on disk (")
    assert str(refused.value).endswith("the lab needs linkdesk installed unpacked (`pip install linkdesk-*.whl`), "
                                       "not run from a zip")


def test_the_lab_phones_without_sipp_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match=r"^sipp not found on PATH: .* install Debian's sip-tester "
                                       r"\(apt-get install sip-tester\)$"):
        SippPhones(tmp_path)
