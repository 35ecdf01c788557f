"""The lab's Debian sid root with Debian's Asterisk in it: build, check, reuse.

Debian bookworm has no Asterisk; sid does. The root is kept outside the
repo, reused while healthy, rebuilt when not. apt's downloaded packages are
kept beside it, so a rebuild can fall back to the last set that worked when
sid is broken on the day.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

from linkdesk.bridge.lab.layout import LabError, Paths

# python3 runs the classic `linkdesk-agi` entry point inside the root;
# baresip-core is the lab's real softphone (bridge/lab/baresip.py): its
# modules without the GUI and video ones that `baresip` recommends.
PACKAGES = ("asterisk", "asterisk-modules", "asterisk-config", "python3", "baresip-core")
MARKER = "etc/linkdesk-lab-root.json"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Our archive copy of sid may be older than its Valid-Until date; keep the
# downloaded .debs so that a rebuild can use them again.
APT_CONF = 'Acquire::Check-Valid-Until "false";\nBinary::apt::APT::Keep-Downloaded-Packages "true";\n'

Log = Callable[[str], None]


def root_problem(paths: Paths) -> str | None:
    """Why the root cannot be used as it is, or None when it is healthy."""
    if not paths.root.exists():
        return f"absent ({paths.root} does not exist)"
    if not (paths.root / MARKER).is_file():
        return f"half-built ({paths.root} has no completion marker {MARKER})"
    try:
        installed_version(paths.root)
    except LabError as exc:
        return f"broken ({exc})"
    missing = missing_packages(paths.root)
    if missing:
        return f"incomplete (missing {', '.join(missing)})"
    return None


def missing_packages(root: Path) -> list[str]:
    """Which of PACKAGES dpkg in the root does not list as installed."""
    out = subprocess.run(["chroot", str(root), "dpkg-query", "-W", "-f", "${Package} ${Status}\n", *PACKAGES],
                         capture_output=True, text=True)
    installed = {line.split()[0] for line in out.stdout.splitlines() if line.endswith("install ok installed")}
    return [package for package in PACKAGES if package not in installed]


def installed_version(root: Path) -> str:
    """`asterisk -V` run inside the root; LabError when it does not run."""
    try:
        out = subprocess.run(["chroot", str(root), "/usr/sbin/asterisk", "-V"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"cannot run asterisk in {root}: {exc}") from exc
    if out.returncode != 0 or not out.stdout.startswith("Asterisk "):
        raise LabError(f"asterisk -V in {root} failed: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip().removeprefix("Asterisk ")


def tested_version(paths: Paths) -> str:
    """The Asterisk version the lab was last built and tested with (committed)."""
    return (paths.config_dir / "TESTED-WITH").read_text().split()[1]


def provision(paths: Paths, log: Log, rebuild: bool = False) -> str:
    """Make the root healthy (reuse it if it is) and return its Asterisk version."""
    problem = root_problem(paths)
    if problem is None and not rebuild:
        version = installed_version(paths.root)
        log(f"lab root {paths.root} is healthy (Asterisk {version}); reusing it")
        return version
    _require_tools()
    started = time.monotonic()
    if problem and problem.startswith("incomplete") and not rebuild:
        log(f"lab root {paths.root} is {problem}: installing what is missing")
        _install_packages(paths, log)
        log(f"lab root completed in {time.monotonic() - started:.1f} s")
        return installed_version(paths.root)
    log(f"building the lab root at {paths.root}: {problem or 'rebuild asked for'}")
    _remove_root(paths)
    _debootstrap(paths, log)
    _install_packages(paths, log)
    version = installed_version(paths.root)
    elapsed = time.monotonic() - started
    (paths.root / MARKER).write_text(json.dumps(
        {"asterisk": version, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "seconds": round(elapsed, 1)}))
    log(f"lab root built in {elapsed:.1f} s with Asterisk {version}")
    _compare_with_tested(paths, version, log)
    return version


def _require_tools() -> None:
    missing = [tool for tool in ("debootstrap", "chroot") if shutil.which(tool) is None]
    if missing:
        raise LabError(f"{', '.join(missing)} not found: run `apt-get install debootstrap` as root")


def _remove_root(paths: Paths) -> None:
    if not paths.root.exists():
        return
    if _mounts_under(paths.root):
        raise LabError(f"something is mounted under {paths.root}: unmount it before a rebuild")
    shutil.rmtree(paths.root)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]


def _debootstrap(paths: Paths, log: Log) -> None:
    cache = paths.cache / "debootstrap"
    cache.mkdir(parents=True, exist_ok=True)
    mirror = os.environ.get("LINKDESK_SID_MIRROR", DEFAULT_MIRROR)
    log(f"debootstrap sid from {mirror} (packages cached in {cache})")
    _run(["debootstrap", "--variant=minbase", f"--cache-dir={cache}", "sid", str(paths.root), mirror],
         "debootstrap of Debian sid")
    (paths.root / "etc/apt/apt.conf.d/99linkdesk").write_text(APT_CONF)


def _install_packages(paths: Paths, log: Log) -> None:
    debs = paths.cache / "apt"
    debs.mkdir(parents=True, exist_ok=True)
    archives = paths.root / "var/cache/apt/archives"
    for deb in debs.glob("*.deb"):
        shutil.copy2(deb, archives / deb.name)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        _run(["chroot", str(paths.root), "apt-get", "update"], "apt-get update in the sid root", env)
        _run(["chroot", str(paths.root), "apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
             "apt-get install in the sid root", env)
        # Drop seeded .debs that sid no longer has, so the cache holds one good set.
        _run(["chroot", str(paths.root), "apt-get", "autoclean"], "apt-get autoclean", env)
    except LabError as exc:
        if not any(debs.glob("asterisk_*.deb")):
            raise LabError(f"{exc}\nno cached packages in {debs} to fall back on; see the README, "
                           "'When sid breaks the lab'") from exc
        log(f"{exc}\nfalling back to the last good package set cached in {debs}")
        _run(["chroot", str(paths.root), "sh", "-c", "dpkg -i /var/cache/apt/archives/*.deb"],
             "dpkg -i of the cached package set", env)
    for old in debs.glob("*.deb"):
        old.unlink()
    for deb in archives.glob("*.deb"):
        shutil.copy2(deb, debs / deb.name)


def _compare_with_tested(paths: Paths, version: str, log: Log) -> None:
    try:
        tested = tested_version(paths)
    except (OSError, IndexError):
        return
    if tested != version:
        log(f"note: this root has Asterisk {version}; the lab was tested with {tested} "
            f"(asterisk-config/TESTED-WITH). Run the tests, then record the new version there.")


def _run(argv: list[str], what: str, env: dict | None = None) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
        raise LabError(f"{what} failed (exit {out.returncode}):\n{tail}")
