"""SIGTERM and SIGHUP with real PBXs: a linkdesk stopped mid-transfer
(between the key press and the receiver's answer) drains, exits 0 and loses
nothing; the next one completes the transfer from what the dialplan kept.
A reload keeps the AMI links up."""

from __future__ import annotations

import asyncio
import signal

import pytest

from ami_probe import EventRecorder, on_loop
from lab_linkdesk import Linkdesk
from linkdesk.bridge.lab.phones import sip_header
from polling import until

pytestmark = pytest.mark.lab
CITIZEN = "13800138000"


def _rows(linkdesk, table: str) -> list[dict]:
    return linkdesk.rows(f"SELECT * FROM {table}")


@on_loop
async def test_sigterm_between_key_press_and_answer_drains_exits_0_and_the_next_linkdesk_completes(
        lab, phones, tmp_path):
    first = Linkdesk(tmp_path)
    try:
        await first.ready()
        async with EventRecorder(lab["12345"]) as ami12345:
            phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
            receivers = [phones.operator(op, answer_after=4.0) for op in lab["12345"].operators]
            citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=15)
            dialing = await until(lambda: [t for t in _rows(first, "transfers") if t["state"] == "dialing"])
            # The receiver's phone rings once 12345's inbound FastAGI call has read
            # the order from this linkdesk; SIGTERM comes after that, before the answer (4 s).
            await ami12345.wait_for("AgentCalled", CallerIDNum=CITIZEN)
            first.process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(first.process.wait, 20) == 0, first.log_tail()
            await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=20)
    finally:
        first.stop()
    log = first.log()
    assert "stopping: no new FastAGI sessions or HTTP requests" in log
    assert "stopped: everything in flight finished" in log, log
    [stored] = [t for t in _rows(first, "transfers") if t["id"] == dialing[0]["id"]]
    assert stored["state"] == "dialing", "stored as it was when linkdesk stopped"
    assert [o["id"] for o in _rows(first, "orders")] == [stored["order_id"]]
    second = Linkdesk(tmp_path)
    try:
        await second.ready()
        done = await until(lambda: [t for t in _rows(second, "transfers")
                                    if t["id"] == stored["id"] and t["state"] == "completed"], timeout=40)
        assert done[0]["order_id"] == stored["order_id"]
        invites = [invite for phone in receivers for invite in phone.invites()]
        assert any(sip_header(invite, "X-Linkdesk-Order") == stored["order_id"] for invite in invites)
        assert await citizen.finished(40) == 0, "the citizen stayed on the line throughout"
    finally:
        second.stop()


@on_loop
async def test_sighup_reloads_and_keeps_both_ami_links_logged_in(lab, linkdesk):
    before = linkdesk.log()
    linkdesk.process.send_signal(signal.SIGHUP)
    await until(lambda: "SIGHUP: configuration reloaded" in linkdesk.log())
    assert await linkdesk.api("GET", "/healthz", token=None) == \
        (200, {"status": "ok", "pbx": {"110": {"ami": "logged-in"}, "12345": {"ami": "logged-in"}}})
    after = linkdesk.log()[len(before):]
    assert "AMI connection to PBX" not in after and "AMI logged in" not in after, after
    assert linkdesk.process.poll() is None
