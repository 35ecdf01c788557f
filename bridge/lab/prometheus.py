"""Debian's Prometheus for the lab: `prometheus` and `promtool` unpacked from
the host's `prometheus` package into the lab's state folder (no service is
installed or started; linkdesk's tests start the server themselves, by pid)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from linkdesk.bridge.lab.layout import LabError, Paths


def bin_dir(paths: Paths) -> Path:
    return paths.state_dir / "prometheus" / "usr" / "bin"


def provision(paths: Paths, log) -> Path:
    """The folder holding `prometheus` and `promtool`; unpacked on first use."""
    binaries = bin_dir(paths)
    if (binaries / "promtool").exists() and (binaries / "prometheus").exists():
        return binaries
    downloads = paths.cache / "prometheus"
    downloads.mkdir(parents=True, exist_ok=True)
    if not list(downloads.glob("prometheus_*.deb")):
        log("fetching Debian's prometheus package (apt-get download)")
        try:
            _run(["apt-get", "download", "prometheus"], downloads, "apt-get download prometheus")
        except LabError:
            # The package lists may be missing or stale on a machine set up long ago.
            _run(["apt-get", "update", "-qq"], downloads, "apt-get update")
            _run(["apt-get", "download", "prometheus"], downloads, "apt-get download prometheus")
    package = sorted(downloads.glob("prometheus_*.deb"))[-1]
    _run(["dpkg-deb", "-x", str(package), str(paths.state_dir / "prometheus")], downloads, "dpkg-deb -x")
    log(f"prometheus and promtool unpacked into {binaries}")
    return binaries


def _run(argv: list[str], cwd: Path, what: str) -> None:
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise LabError(f"{what} failed (exit {out.returncode}): {(out.stdout + out.stderr).strip()[-600:]}")
