"""Orders circulating between 110 and 12345 against the lab: a transfer's
work order reaches 12345's case system by webhook, every step comes back to
110, nothing is lost across a SIGKILL, and conflicting updates lose nothing
(issue 6's proof)."""

from __future__ import annotations

import asyncio
import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ami_probe import EventRecorder, on_loop
from lab_linkdesk import LAB_TOKENS, Linkdesk
from linkdesk.bridge.app.webhook_config import WebhookSettings, claim_seconds
from polling import until
from webhook_receiver import WebhookReceiver

CITIZEN = "13800138000"
SECRET = {platform: "whsec_" + base64.b64encode(f"secret-of-{platform}-case-system".encode()).decode()
          for platform in ("110", "12345")}
# The receivers are on this machine, over plain http: the URL policy is told so.
# s an outbox claim lasts with the webhook settings these tests run (the defaults):
# a linkdesk killed mid-attempt holds its event that long, then another takes it.
CLAIM = claim_seconds(WebhookSettings())
FAST_RETRIES = ("[orders]\nretry_base = 0.3\nretry_cap = 1.0\n"
                '[webhooks]\nallow_http = ["127.0.0.1"]\nallow_hosts = ["127.0.0.1"]\n')
pytestmark = pytest.mark.lab


@pytest.fixture
def receivers():
    made = {platform: WebhookReceiver([SECRET[platform]]) for platform in ("110", "12345")}
    yield made
    for receiver in made.values():
        receiver.close()


async def _register(linkdesk, receivers) -> None:
    for platform, receiver in receivers.items():
        status, body = await linkdesk.api("PUT", "/v1/webhook", {"url": receiver.url, "secret": SECRET[platform]},
                                          token=LAB_TOKENS[platform])
        assert status == 200, body


async def _blind_transfer(lab, phones, linkdesk, ami110, talk_seconds: float = 15):
    operator_110 = phones.operator(lab["110"].operators[0])
    for op in lab["12345"].operators:
        phones.operator(op)
    citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=talk_seconds)
    await ami110.wait_bridged(CITIZEN)
    status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
    assert status == 201, body
    return body["order_id"], operator_110, citizen


@on_loop
async def test_a_transfers_work_order_goes_round_by_webhooks_with_its_full_trail(lab, phones, tmp_path, receivers):
    linkdesk = Linkdesk(tmp_path, extra_config=FAST_RETRIES)
    try:
        await linkdesk.ready()
        await _register(linkdesk, receivers)
        async with EventRecorder(lab["110"]) as ami110:
            order_id, _, citizen = await _blind_transfer(lab, phones, linkdesk, ami110)
            at_12345, at_110 = receivers["12345"], receivers["110"]
            created = await until(lambda: next((p for p in at_12345.applied.values() if p["order_id"] == order_id), None))
            assert created["action"] == "created" and created["order"]["caller_number"] == CITIZEN
            assert created["order"]["kind"] == "work" and created["order"]["from_platform"] == "110"
            assert created["order"]["call_uniqueid"] and created["order"]["call_linkedid"], "linked to the call"
            await until(lambda: linkdesk.call("GET", f"/v1/orders/{order_id}")[1]["order"]["state"] == "delivered")

            version = linkdesk.call("GET", f"/v1/orders/{order_id}", token=LAB_TOKENS["12345"])[1]["order"]["version"]
            status, body = await linkdesk.api("POST", f"/v1/orders/{order_id}/accept", {"version": version},
                                              token=LAB_TOKENS["12345"])
            assert status == 200, body
            status, body = await linkdesk.api("POST", f"/v1/orders/{order_id}/feedback",
                                              {"version": body["order"]["version"], "note": "gas fitter on the way"},
                                              token=LAB_TOKENS["12345"])
            assert status == 200, body
            await until(lambda: at_110.actions()[-2:] == ["accepted", "feedback"])
            assert at_110.actions() == ["delivered", "accepted", "feedback"], "110 sees each step, in order"
            assert at_12345.bad_signatures == at_110.bad_signatures == 0

            status, body = await linkdesk.api("GET", f"/v1/orders/{order_id}/events")
            trail = [(e["action"], e["actor"], e["version"]) for e in body["events"]]
            assert trail == [("created", "110", 1), ("delivered", "linkdesk", 2), ("accepted", "12345", 3),
                             ("feedback", "12345", 4)]
            assert body["events"][-1]["detail"] == {"note": "gas fitter on the way"}
            citizen.stop()
    finally:
        linkdesk.stop()


@on_loop
async def test_no_event_is_lost_or_applied_twice_across_failures_and_a_sigkill(lab, tmp_path, receivers):
    at_12345 = receivers["12345"]
    at_12345.fail_first = 2
    first = Linkdesk(tmp_path, extra_config=FAST_RETRIES)
    try:
        await first.ready()
        await _register(first, receivers)
        status, body = await first.api("POST", "/v1/orders", {"to": "12345", "caller_number": CITIZEN,
                                                              "summary": "gas smell, 3rd floor"})
        assert status == 201, body
        order_id = body["order"]["id"]
        await until(lambda: len(at_12345.attempts) >= 1)
        first.kill()   # between the first refused delivery and the second
    finally:
        first.stop()
    second = Linkdesk(tmp_path, extra_config=FAST_RETRIES)
    try:
        await second.ready()
        await until(lambda: "created" in at_12345.actions(), timeout=CLAIM + 10)
        version = second.call("GET", f"/v1/orders/{order_id}", token=LAB_TOKENS["12345"])[1]["order"]["version"]
        status, body = await second.api("POST", f"/v1/orders/{order_id}/reject",
                                        {"version": version, "reason": "not a 12345 matter"}, token=LAB_TOKENS["12345"])
        assert status == 200, body
        await until(lambda: receivers["110"].actions()[-1:] == ["rejected"])
        assert len(at_12345.attempts) >= 3, "two refusals, then taken"
        trail = [e["id"] for e in second.call("GET", f"/v1/orders/{order_id}/events")[1]["events"]]
        assert sorted(at_12345.applied) == sorted(trail), "the addressee got every event, each applied once"
        keys = [a["key"] for a in at_12345.attempts]
        assert len(set(keys)) == len(trail), "retries reuse the event's idempotency key"
    finally:
        second.stop()


@on_loop
async def test_fifty_conflicting_updates_one_wins_the_rest_get_409_and_the_trail_is_complete(lab, linkdesk):
    status, body = await linkdesk.api("POST", "/v1/orders", {"to": "12345", "caller_number": CITIZEN},
                                      token=LAB_TOKENS["110"])
    order_id = body["order"]["id"]
    version = linkdesk.call("GET", f"/v1/orders/{order_id}", token=LAB_TOKENS["12345"])[1]["order"]["version"]
    start = threading.Barrier(50)

    def accept(_):
        start.wait()
        return linkdesk.call("POST", f"/v1/orders/{order_id}/accept", {"version": version},
                             token=LAB_TOKENS["12345"])

    with ThreadPoolExecutor(50) as pool:
        results = await asyncio.to_thread(lambda: list(pool.map(accept, range(50))))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 49
    assert {body["error"]["id"] for status, body in results if status == 409} <= {
        "order-version-conflict", "order-illegal-move"}
    events = linkdesk.call("GET", f"/v1/orders/{order_id}/events")[1]["events"]
    assert [e["action"] for e in events] == ["created", "delivered", "accepted"]
    assert [e["version"] for e in events] == [1, 2, 3]


@on_loop
async def test_bad_order_requests_get_clear_errors_and_change_nothing(lab, linkdesk):
    status, body = await linkdesk.api("POST", "/v1/orders", {"to": "12345", "summary": "ok"},
                                      headers={"Idempotency-Key": "k-1"})
    assert status == 201
    order_id = body["order"]["id"]
    again = await linkdesk.api("POST", "/v1/orders", {"to": "12345", "summary": "ok"},
                               headers={"Idempotency-Key": "k-1"})
    assert again == (201, body), "the same key replays the first answer"
    cases = [
        ("POST", "/v1/orders", {"to": "12345", "summary": "other"}, "110", {"Idempotency-Key": "k-1"}, 422,
         "idempotency-key-reused"),
        ("POST", "/v1/orders", {"to": "12345", "summary": "a\r\nb"}, "110", {}, 400, "bad-field"),
        ("POST", "/v1/orders", {"to": "110"}, "110", {}, 400, "order-bad-field"),
        ("POST", "/v1/orders", {"to": "12345", "caller_number": "138\nx"}, "110", {}, 400, "bad-field"),
        ("POST", f"/v1/orders/{order_id}/accept", {"version": 2}, "110", {}, 403, "order-forbidden"),
        ("POST", f"/v1/orders/{order_id}/accept", {"version": 99}, "12345", {}, 409, "order-version-conflict"),
        ("POST", f"/v1/orders/{order_id}/reject", {"version": 1}, "12345", {}, 400, "bad-field"),
        ("POST", f"/v1/orders/{order_id}/close", {"version": 1, "result": "x"}, "12345", {}, 409,
         "order-illegal-move"),
        ("GET", "/v1/orders/WO-000000000000", None, "110", {}, 404, "order-not-found"),
        ("GET", f"/v1/orders/{order_id}", None, "nobody", {}, 401, "auth-invalid"),
    ]
    for method, path, payload, who, headers, status, reason in cases:
        token = LAB_TOKENS.get(who, "not-a-token")
        got, reply = await linkdesk.api(method, path, payload, token=token, headers=headers)
        assert (got, reply["error"]["id"]) == (status, reason), (method, path, payload, reply)
    orders = linkdesk.call("GET", "/v1/orders")[1]["orders"]
    assert [o["id"] for o in orders] == [order_id] and orders[0]["state"] == "created"


@on_loop
async def test_a_rejection_while_the_citizen_is_on_the_line_brings_them_back_to_the_first_operator(
        lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        order_id, operator_110, citizen = await _blind_transfer(lab, phones, linkdesk, ami110, talk_seconds=20)
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN)
        await operator_110.hung_up(10)
        version = linkdesk.call("GET", f"/v1/orders/{order_id}", token=LAB_TOKENS["12345"])[1]["order"]["version"]
        status, body = await linkdesk.api("POST", f"/v1/orders/{order_id}/reject",
                                          {"version": version, "reason": "a police matter"},
                                          token=LAB_TOKENS["12345"])
        assert status == 200, body
        seen = len(ami110.events)
        back = await until(lambda: [e for e in ami110.events[seen:] if e.name == "DialBegin"
                                    and e.CallerIDNum == CITIZEN], timeout=15)
        assert back[0].DestChannel.startswith("PJSIP/1101-"), "the first operator is rung again"
        transfer = linkdesk.call("GET", f"/v1/transfers/{body['order']['transfer_id']}")[1]["transfer"]
        assert (transfer["state"], transfer["reason"]) == ("returned", "order-rejected")
        assert citizen.process.poll() is None, "the citizen is still on the line"
        citizen.stop()
