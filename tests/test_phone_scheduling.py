"""The benches' phones run in the background (SCHED_IDLE): on the lab's two
cores they must not delay the PBXs' and linkdesk's threads they measure.
Real sipp processes, no PBX: each dials a port nobody answers."""

import os
import time
from types import SimpleNamespace

import pytest

from linkdesk.bridge.lab.phones import SippPhones, free_udp_port

NOBODY = SimpleNamespace(sip_host="127.0.0.1", sip_port=free_udp_port())


def _policy_of(phone) -> int:
    """The running phone's scheduling policy, once its process is sipp itself (chrt execs it)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{phone.pid}/comm") as comm:
            if comm.read().strip() == "sipp":
                return os.sched_getscheduler(phone.pid)
        time.sleep(0.02)
    raise AssertionError(f"phone {phone.pid} never became sipp: {phone.output()}")


@pytest.mark.parametrize("background, policy", [(True, os.SCHED_IDLE), (False, os.SCHED_OTHER)])
def test_a_phone_runs_under_the_policy_asked_for(tmp_path, background, policy):
    phones = SippPhones(tmp_path, background=background)
    phone = phones.impostor(NOBODY, "110", "1001")
    try:
        assert phone.process.poll() is None, phone.output()
        assert _policy_of(phone) == policy
    finally:
        phones.stop_all()
    assert phone.process.poll() is not None
