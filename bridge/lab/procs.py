"""Processes known by pid and start time, so that only what was started is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    """A process we started: its pid plus the start time that makes the pid unique."""

    pid: int
    name: str
    starttime: int

    def alive(self) -> bool:
        """True while this very process (not a later one with the same pid) runs."""
        return _starttime(self.pid) == self.starttime and not _is_zombie(self.pid)


def record_of(pid: int, name: str) -> ProcessRecord:
    return ProcessRecord(pid=pid, name=name, starttime=_starttime(pid) or 0)


def stop_process(record: ProcessRecord, grace: float = 10.0) -> bool:
    """TERM the process group led by `record`, KILL it after `grace` s; True if it ran."""
    if not record.alive():
        return False
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while record.alive() and time.monotonic() < deadline:
        _reap(record.pid)
        time.sleep(0.05)
    if record.alive():
        _signal_group(record.pid, signal.SIGKILL)
        while record.alive():
            _reap(record.pid)
            time.sleep(0.05)
    _reap(record.pid)
    return True


def processes_in_root(root: Path) -> list[int]:
    """Pids of live processes whose filesystem root is `root` (a chroot)."""
    target = os.path.realpath(root)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == target and not _is_zombie(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    # Only the process that spawned the PBX can reap it; elsewhere init does.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _starttime(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] == "Z"


def stop_child(process, grace: float) -> int:
    """TERM a child we started (a subprocess.Popen), KILL it after `grace` s; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
