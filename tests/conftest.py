"""Session wiring: the lab comes up once, for every lab test, and goes down at the end.

A lab test never skips: if the lab cannot start, the run fails and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

# wired.py is both a plugin (pytest_plugins of the HTTP-surface tests) and a module the wiring
# tests import: registered before either imports it, so pytest takes it either way.
pytest.register_assert_rewrite("wired")
# The store tests' two databases (`store_at`, SQLite and PostgreSQL): stores.py.
pytest_plugins = ["stores"]

from linkdesk.bridge.lab.layout import default_paths, load_specs
from linkdesk.bridge.lab import pbx as lab_pbx
from linkdesk.bridge.lab.pbx import load_state
from linkdesk.bridge.lab.phones import SippPhones
from linkdesk.bridge.lab.softphone import Softphone

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
    # to a dead phone's port would reach the next test's phone there. So the
    # phones stop only once both PBXs have no channel left.
    try:
        hang_up_everything()
        until_no_channels()
    finally:
        started.stop_all()


@pytest.fixture
def softphones():
    """`softphones(operator, answer_after=0.3)`: the lab's own softphone for that
    operator (bridge/lab/softphone.py: two calls at once, attended transfer),
    REGISTER sent (its `registered` becomes the PBX's answer). Closed after
    the test; name this fixture before `phones`, whose teardown hangs up every
    call while these phones still answer the BYEs."""
    started: list[Softphone] = []

    def start(operator, answer_after: float = 0.3) -> Softphone:
        phone = Softphone(operator, answer_after)
        started.append(phone)
        phone.register()
        return phone

    yield start
    for phone in started:
        phone.close()


def running_pbxs() -> list[str]:
    """The lab PBXs running now: the pair, and 110b while its tests have it up."""
    return [name for name, record in load_state(default_paths()).items() if record.alive()]


def hang_up_everything() -> None:
    for pbx in running_pbxs():
        lab_pbx.hang_up_all(default_paths(), pbx)


def active_channels(pbx: str) -> int:
    """How many channels `pbx` has up; 0 when it is not running (a test may
    have stopped it): nothing is left there to hang up."""
    return lab_pbx.channel_count(default_paths(), pbx) or 0


def until_no_channels(timeout: float = 10.0, every: float = 0.1) -> None:
    """Return once no running lab PBX has a channel up; fail with the counts after
    `timeout` s. A channel the dialplan started while `hangup all` ran (a queue
    ringing a member, a trunk leg) is asked to hang up again each second."""
    deadline = time.monotonic() + timeout
    again = time.monotonic() + 1.0
    while True:
        left = {pbx: n for pbx in running_pbxs() if (n := active_channels(pbx))}
        if not left:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"channels still up {timeout:g} s after hanging up everything: {left}", pytrace=False)
        if time.monotonic() > again:
            hang_up_everything()
            again = time.monotonic() + 1.0
        time.sleep(every)


# The lab tests run once on SQLite (the default) and once more with
# LINKDESK_TEST_STORE=postgresql (`./run test` does both): every Linkdesk a lab
# test starts without a store of its own then keeps it on the session's PostgreSQL.
STORE_BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def lab_store_backend(request, tmp_path):
    backend = os.environ.get("LINKDESK_TEST_STORE", "sqlite")
    if backend not in STORE_BACKENDS:
        pytest.fail(f"LINKDESK_TEST_STORE={backend!r}: one of {', '.join(STORE_BACKENDS)}", pytrace=False)
    if backend == "sqlite" or request.node.get_closest_marker("lab") is None:
        yield backend
        return
    import lab_linkdesk
    from stores import StoreLocations

    locations = StoreLocations(backend, tmp_path, request.getfixturevalue("postgres_server"))
    lab_linkdesk.default_store_url = lambda workdir, name: locations(f"{workdir.name}-{name}")
    try:
        yield backend
    finally:
        lab_linkdesk.default_store_url = None
        locations.close()


def _ready_linkdesk(tmp_path, **kwargs):
    from lab_linkdesk import Linkdesk

    service = Linkdesk(tmp_path, **kwargs)
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


@pytest.fixture
def linkdesk(tmp_path):
    """`linkdesk serve --lab` for one test, ready (both PBXs' AMI logged in,
    FastAGI listening) before the test starts; stopped (by pid) after it."""
    yield from _ready_linkdesk(tmp_path)


@pytest.fixture
def impatient_linkdesk(tmp_path):
    """linkdesk giving the other side 4 s to answer; ready, as `linkdesk`."""
    yield from _ready_linkdesk(tmp_path, answer_timeout=4)
