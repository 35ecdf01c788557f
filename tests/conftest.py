"""Session wiring: the lab comes up once, for every lab test, and goes down at the end.

A lab test never skips: if the lab cannot start, the run fails and says why.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from linkdesk.bridge.lab.layout import default_paths, load_specs
from linkdesk.bridge.lab.phones import SippPhones

LINKDESK = [sys.executable, "-m", "linkdesk.bridge.cli"]


def run_linkdesk(*args: str, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    """Run the `linkdesk` command as a user would; its output is returned, not shown."""
    return subprocess.run([*LINKDESK, *args], capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def lab():
    """Both lab PBXs, up and fully booted: {"110": PbxSpec, "12345": PbxSpec}."""
    up = run_linkdesk("lab", "up")
    if up.returncode != 0:
        pytest.fail(f"the lab did not come up (exit {up.returncode}):\n{up.stdout}{up.stderr}\n"
                    "Provision it with `linkdesk lab provision` (the README's test command does).",
                    pytrace=False)
    yield load_specs(default_paths())
    down = run_linkdesk("lab", "down")
    assert down.returncode == 0, f"lab down failed:\n{down.stdout}{down.stderr}"


@pytest.fixture
def phones(tmp_path):
    """sipp citizens and operators; every one still running is stopped after the
    test, and every call still up on the lab PBXs is hung up, so that no test
    inherits a busy operator from the one before."""
    started = SippPhones(tmp_path)
    yield started
    # Calls first, while the phones still answer the BYEs: a BYE retransmitted
    # to a dead phone's port would reach the next test's phone there.
    hang_up_everything()
    time.sleep(0.5)
    started.stop_all()


def hang_up_everything() -> None:
    root = default_paths().root
    for pbx in ("110", "12345"):
        subprocess.run(["chroot", str(root), "/usr/sbin/asterisk", "-C", f"/etc/linkdesk-lab/{pbx}/asterisk.conf",
                        "-rx", "channel request hangup all"], capture_output=True, timeout=30)


@pytest.fixture
def linkdesk(tmp_path):
    """`linkdesk serve --lab` for one test, stopped (by pid) after it."""
    from lab_linkdesk import Linkdesk

    service = Linkdesk(tmp_path)
    yield service
    service.stop()


@pytest.fixture
def impatient_linkdesk(tmp_path):
    """linkdesk giving the other side 4 s to answer."""
    from lab_linkdesk import Linkdesk

    service = Linkdesk(tmp_path, answer_timeout=4)
    yield service
    service.stop()
