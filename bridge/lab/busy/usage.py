"""What the busy hour costs: linkdesk's CPU, memory, descriptors and live
tasks, the PBXs' CPU, the store's size, read from /proc and linkdesk's /metrics."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from linkdesk.bridge.lab.store_view import StoreView

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    at: float                  # time.monotonic()
    cpu: float                 # linkdesk's CPU seconds so far (user + system)
    rss: int                   # linkdesk's resident memory, bytes
    fds: int                   # linkdesk's open descriptors
    pbx_cpu: dict[str, float]  # each PBX's CPU seconds so far
    store_bytes: int           # the store's files (database, WAL)
    phones_cpu: float = 0.0    # the bench's own phones (sipp), CPU seconds so far


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (0.0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def sample(pid: int, pbx_pids: dict[str, int], store: Path | str, phones=()) -> Usage:
    """`phones`: the pids of the bench's phones still running; those already
    reaped count in this process's children's times."""
    reaped = os.times()
    return Usage(time.monotonic(), cpu_seconds(pid), rss_bytes(pid), open_fds(pid),
                 {name: cpu_seconds(p) for name, p in pbx_pids.items()}, StoreView(store).size_bytes(),
                 reaped.children_user + reaped.children_system + sum(cpu_seconds(p) for p in phones))


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute; 0.0 for fewer than two."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return 60 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
