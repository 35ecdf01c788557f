"""One-click transfer against the real lab: 110 → 12345, the citizen's number
and the order id travelling with the call (issue 4's proof)."""

from __future__ import annotations

import re

import pytest

from ami_probe import EventRecorder, on_loop
from lab_linkdesk import LAB_TOKENS, Linkdesk, until

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


@pytest.fixture
def linkdesk(tmp_path):
    service = Linkdesk(tmp_path)
    yield service
    service.stop()


def _header(message: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.+)$", message, re.MULTILINE | re.IGNORECASE)
    return match.group(1).strip() if match else ""


def _first_invite(phone) -> str:
    messages = phone.messages()
    start = messages.find("INVITE sip:")
    return messages[start:messages.find("\n\n", start)] if start >= 0 else ""


async def _citizen_with_110_operator(lab, phones, ami110, talk_seconds=12.0):
    operator = phones.operator(lab["110"].operators[0])
    citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=talk_seconds)
    await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
    return operator, citizen


@on_loop
async def test_blind_transfer_by_http_carries_number_and_order_to_the_12345_operator(lab, phones, linkdesk):
    await linkdesk.ready()
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        operator_110, citizen = await _citizen_with_110_operator(lab, phones, ami110)
        receivers = [phones.operator(op) for op in lab["12345"].operators]

        status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
        assert status == 201, body
        order_id = body["order_id"]
        assert re.fullmatch(r"WO-[0-9a-f]{12}", order_id)

        answered = await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        assert answered.Queue == "12345-intake"
        assert await operator_110.finished(10) == 0, "the 110 operator is freed (BYE) at once"
        invite = next(_first_invite(p) for p in receivers if _first_invite(p))
        assert CITIZEN in _header(invite, "From") and CITIZEN in _header(invite, "P-Asserted-Identity")
        assert _header(invite, "X-Linkdesk-Order") == order_id
        assert _header(invite, "X-Linkdesk-Caller") == CITIZEN

        shown = await until(lambda: (r := linkdesk.call("GET", f"/v1/transfers/{body['transfer']['id']}"))
                            and r[1]["transfer"]["state"] == "completed" and r[1])
        assert [step["state"] for step in shown["timeline"]] == ["requested", "dialing", "answered", "completed"]
        assert shown["transfer"]["caller_number"] == CITIZEN
        assert await citizen.finished(30) == 0
