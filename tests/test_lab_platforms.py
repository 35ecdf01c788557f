"""One platform on two PBXs, on the lab (issue 17): the 110 platform's second
PBX (asterisk-config/110b), started for this module only and stopped by pid,
beside the pair. A transfer from the second 110 PBX reaches 12345 with its
order; an emergency from 12345 reaches the second 110 PBX when the first
cannot be reached (12345's dialplan.trunk lists to-110, then to-110b: the kit
dials them in turn)."""

from __future__ import annotations

import os
import signal

import pytest

from ami_probe import EventRecorder, on_loop
from lab_linkdesk import Linkdesk
from linkdesk.bridge.lab import pbx as lab_pbx
from linkdesk.bridge.lab.layout import ON_DEMAND, PBX_NAMES, default_paths, load_specs
from linkdesk.bridge.lab.phones import sip_header
from polling import until

pytestmark = pytest.mark.lab
CITIZEN = "13800138000"


@pytest.fixture(scope="module")
def second_110(lab):
    """PBX 110b up beside the pair; stopped (by its recorded pid) after the module."""
    paths = default_paths()
    spec = load_specs(paths, ON_DEMAND)["110b"]
    lab_pbx.start_extra(paths, spec, lambda line: None)
    try:
        yield spec
    finally:
        lab_pbx.stop_extra(paths, "110b")


@pytest.fixture
def three_pbx_linkdesk(tmp_path, second_110):
    """linkdesk logged in to all three PBXs' AMI (LINKDESK_LAB_PBXS), ready."""
    service = Linkdesk(tmp_path, pbxs=(*PBX_NAMES, *ON_DEMAND))
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


def trunk_state(pbx: str, aor: str) -> str | None:
    """The qualify status `pbx` holds for the contact of trunk AOR `aor`."""
    states = lab_pbx.contact_states(default_paths(), pbx)
    return next((state for contact, state in states.items() if contact.startswith(f"{aor}/")), None)


def order_of(phones_rung) -> str:
    """The X-Linkdesk-Order of the first INVITE any of `phones_rung` received."""
    invites = [invite for phone in phones_rung for invite in phone.invites()]
    found = [sip_header(invite, "X-Linkdesk-Order") for invite in invites]
    assert any(found), f"no INVITE carried an order: {len(invites)} INVITE(s)"
    return next(order for order in found if order)


@on_loop
async def test_a_transfer_from_the_second_110_pbx_reaches_12345_with_its_order(lab, second_110, phones,
                                                                                 three_pbx_linkdesk):
    await until(lambda: trunk_state("110b", "to-12345") == "Avail", timeout=15)
    async with EventRecorder(lab["12345"]) as ami12345:
        phones.operator(second_110.operators[0], press="*5", press_after=1.0)
        receivers = [phones.operator(op) for op in lab["12345"].operators]
        citizen = phones.citizen(second_110, "110", CITIZEN, talk_seconds=10)
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=20)
    order_id = order_of(receivers)
    order = three_pbx_linkdesk.rows("SELECT * FROM orders WHERE id = ?", order_id)[0]
    assert (order["kind"], order["from_platform"], order["to_platform"]) == ("work", "110", "12345")
    transfer = three_pbx_linkdesk.rows("SELECT * FROM transfers WHERE order_id = ?", order_id)[0]
    assert transfer["pbx"] == "110b", "the transfer was asked for on, and carried out by, the second PBX"
    assert await citizen.finished(30) == 0, "the citizen stayed on the line throughout"


@on_loop
async def test_an_emergency_from_12345_reaches_the_second_110_pbx_while_the_first_is_unreachable(
        lab, second_110, phones, three_pbx_linkdesk):
    await until(lambda: trunk_state("12345", "to-110b") == "Avail", timeout=15)
    first = lab_pbx.load_state(default_paths())["110"]
    os.kill(first.pid, signal.SIGSTOP)   # a hung host: its sockets stay, nothing answers
    try:
        await until(lambda: trunk_state("12345", "to-110") == "Unavail", timeout=15)
        async with EventRecorder(second_110) as ami110b:
            phones.operator(lab["12345"].operators[0], press="*9", press_after=1.0)
            receivers = [phones.operator(op) for op in second_110.operators]
            citizen = phones.citizen(lab["12345"], "12345", CITIZEN, talk_seconds=10)
            await ami110b.wait_for("AgentConnect", CallerIDNum=CITIZEN, Queue="110-emergency", timeout=25)
        order_id = order_of(receivers)
        order = three_pbx_linkdesk.rows("SELECT * FROM orders WHERE id = ?", order_id)[0]
        assert (order["from_platform"], order["to_platform"]) == ("12345", "110")
        transfer = three_pbx_linkdesk.rows("SELECT * FROM transfers WHERE order_id = ?", order_id)[0]
        assert (transfer["pbx"], transfer["lane"]) == ("12345", "emergency")
        assert await citizen.finished(30) == 0, "the citizen stayed on the line throughout"
    finally:
        os.kill(first.pid, signal.SIGCONT)
    # The next module's calls to 110 go over to-110 again, as before.
    await until(lambda: trunk_state("12345", "to-110") == "Avail", timeout=15)
