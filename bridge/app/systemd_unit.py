"""The systemd unit shipped in the package (`linkdesk.service`), printed by
`linkdesk systemd-unit` with ExecStart naming the linkdesk it runs from."""

from __future__ import annotations

import shlex
import sys
from importlib.resources import files
from pathlib import Path

SHIPPED_EXEC = "/usr/local/bin/linkdesk"
DEFAULT_CONFIG = "/etc/linkdesk/linkdesk.toml"


def shipped_unit() -> str:
    """The unit as shipped, ExecStart=/usr/local/bin/linkdesk (pip's system-wide place)."""
    return files("linkdesk.bridge.app").joinpath("linkdesk.service").read_text()


def this_linkdesk() -> str:
    """The `linkdesk` script beside the running interpreter (a virtual environment's, or the system's)."""
    return str(Path(sys.executable).parent / "linkdesk")


def unit(executable: str | None = None, config: str = DEFAULT_CONFIG) -> str:
    """The unit with ExecStart running `executable serve --config config`."""
    start = f"ExecStart={shlex.quote(executable or this_linkdesk())} serve --config {shlex.quote(config)}"
    lines = [start if line.startswith("ExecStart=") else line for line in shipped_unit().splitlines()]
    return "\n".join(lines) + "\n"
