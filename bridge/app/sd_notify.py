"""systemd's notification protocol (sd_notify(3)): one datagram of
`KEY=VALUE` lines to the unix socket named in $NOTIFY_SOCKET, with
READY=1, STOPPING=1, RELOADING=1, STATUS=… and WATCHDOG=1 pings.

Written here rather than taken from a library: the protocol is a sendto()
on an AF_UNIX datagram socket, and the libraries are either a C binding
(python-systemd, which needs libsystemd's headers to build) or unmaintained
wrappers of these same lines (sdnotify)."""

from __future__ import annotations

import logging
import os
import socket
from typing import Mapping

log = logging.getLogger("linkdesk.systemd")


class Notifier:
    """Sends notifications when started by a service manager that asked for
    them ($NOTIFY_SOCKET); without one every call does nothing."""

    def __init__(self, env: Mapping[str, str] = os.environ):
        path = env.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket: its address starts with a NUL byte.
        self._address = "\0" + path[1:] if path.startswith("@") else path
        self._watchdog = _watchdog_seconds(env)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if path else None

    @property
    def watchdog_interval(self) -> float | None:
        """How often to send WATCHDOG=1 (half systemd's WatchdogSec), or None if it wants none."""
        return self._watchdog / 2 if self._watchdog and self._sock else None

    def notify(self, **fields: object) -> None:
        """Send `ready=1, status="…"` as READY=1 and STATUS=…; a failure is logged, never raised."""
        if self._sock is None:
            return
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items()).encode()
        try:
            self._sock.sendto(message, self._address)
        except OSError as exc:
            log.warning("cannot notify systemd at %s: %s", self._address.lstrip("\0"), exc)


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """WatchdogSec from $WATCHDOG_USEC, when it is meant for this process ($WATCHDOG_PID)."""
    pid, usec = env.get("WATCHDOG_PID"), env.get("WATCHDOG_USEC", "")
    if (pid and pid != str(os.getpid())) or not usec.isdigit() or int(usec) == 0:
        return None
    return int(usec) / 1_000_000
