"""Two linkdesk instances on one PostgreSQL against the lab PBXs (issue 17's
proof): either can die at any moment and the key press is still served,
no transfer is carried out twice and no order event is lost or sent twice.

The lab dialplan tries FastAGI at 127.0.0.1:4573, then 4574 ([cluster] in
asterisk-config/lab.toml): `first` listens on the one, `second` on the other."""

from __future__ import annotations

import collections
import shutil
import tempfile
from pathlib import Path

import pytest

from ami_probe import EventRecorder, on_loop
from lab_linkdesk import LAB_TOKENS, Linkdesk
from linkdesk.bridge.lab import postgres
from linkdesk.bridge.lab.phones import sip_header
from linkdesk.bridge.lab.store_view import StoreView
from polling import poll, until
from stores import LAB_STATE
from test_lab_orders import CLAIM, FAST_RETRIES, SECRET
from webhook_receiver import WebhookReceiver

# `postgres_store_at`: a schema of this test's own on the session's PostgreSQL.
pytest_plugins = ["stores"]
pytestmark = pytest.mark.lab
CITIZEN = "13800138000"
SECOND_AGI_PORT = 4574
LEASE = 5.0   # s: cluster.lease_seconds' default, which these instances run with


def rows(url: str, sql: str, *args) -> list[dict]:
    return StoreView(url).rows(sql, *args)


def transfers(url: str, state: str) -> list[dict]:
    return rows(url, "SELECT * FROM transfers WHERE state = ?", state)


def transfer_states(url: str, transfer_id: str) -> list[str]:
    return [r["state"] for r in rows(url, "SELECT state FROM transfer_events WHERE transfer_id = ? ORDER BY at",
                                     transfer_id)]


@pytest.fixture
def pair(lab, tmp_path, postgres_store_at):
    """`first` (FastAGI on 4573, the leader) and `second` (4574, standing by) on one PostgreSQL store."""
    url = postgres_store_at("shared")
    started = []
    try:
        first = Linkdesk(tmp_path, store_url=url, name="first", extra_config=FAST_RETRIES)
        started.append(first)
        first.wait_ready()
        poll(lambda: first.role() == "leader", timeout=LEASE * 2)
        second = Linkdesk(tmp_path, store_url=url, name="second", agi_port=SECOND_AGI_PORT, extra_config=FAST_RETRIES)
        started.append(second)
        second.wait_ready()
        assert second.role() == "standby"
        yield first, second, url
    finally:
        for instance in started:
            instance.stop()


@on_loop
async def test_the_standby_completes_the_transfer_of_a_leader_killed_between_key_press_and_answer(lab, phones, pair):
    first, second, url = pair
    async with EventRecorder(lab["12345"]) as ami12345:
        phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
        receivers_12345 = [phones.operator(op, answer_after=2.0) for op in lab["12345"].operators]
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=20)
        dialing = (await until(lambda: transfers(url, "dialing")))[0]
        await ami12345.wait_for("AgentCalled", CallerIDNum=CITIZEN)
        first.kill()
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=20)
    # The answer came while nobody led: the standby, on taking the lease, settles it from the PBX.
    await until(lambda: second.role() == "leader", timeout=LEASE * 3)
    await until(lambda: rows(url, "SELECT state FROM transfers WHERE id = ?", dialing["id"])[0]["state"]
                == "completed", timeout=30)
    states = transfer_states(url, dialing["id"])
    assert [s for s in states if s != "whispered"] == ["requested", "dialing", "answered", "completed"], states
    trail = rows(url, "SELECT action, version FROM order_events WHERE order_id = ? ORDER BY version",
                 dialing["order_id"])
    assert trail[0]["action"] == "created" and [e["version"] for e in trail] == list(range(1, len(trail) + 1))
    invites = [invite for phone in receivers_12345 for invite in phone.invites()]
    assert any(sip_header(invite, "X-Linkdesk-Order") == dialing["order_id"] for invite in invites)
    assert await citizen.finished(40) == 0, "the citizen stayed on the line throughout"


@on_loop
async def test_a_key_press_after_the_first_instance_died_is_served_by_the_second(lab, phones, pair):
    first, second, url = pair
    first.kill()
    async with EventRecorder(lab["12345"]) as ami12345:
        phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
        for op in lab["12345"].operators:
            phones.operator(op, answer_after=0.3)
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=12)
        await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=30)
    done = await until(lambda: transfers(url, "completed"), timeout=30)
    assert f"transfer {done[0]['id']} dialing" in second.log(), "the second instance carried it out"
    assert await citizen.finished(30) == 0


@on_loop
async def test_a_leader_paused_past_its_lease_stops_acting_and_nothing_is_done_twice(lab, phones, pair):
    first, second, url = pair
    async with EventRecorder(lab["12345"]) as ami12345:
        phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
        for op in lab["12345"].operators:
            phones.operator(op, answer_after=LEASE + 4)
        citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=30)
        dialing = (await until(lambda: transfers(url, "dialing")))[0]
        first.pause()   # it still holds its sockets and its lease row; it just does nothing
        try:
            await until(lambda: second.role() == "leader", timeout=LEASE * 3)
            await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=30)
            await until(lambda: transfers(url, "completed"), timeout=20)
        finally:
            first.resume()
    # Woken, `first` finds the answer's events waiting on its AMI links and its lease gone.
    await until(lambda: "leader lease lost" in first.log(), timeout=10)
    assert first.role() == "standby" and second.role() == "leader"
    states = collections.Counter(transfer_states(url, dialing["id"]))
    assert states["answered"] == states["completed"] == 1, states
    delivered = rows(url, "SELECT count(*) AS n FROM order_events WHERE order_id = ? AND action = 'delivered'",
                     dialing["order_id"])
    assert delivered[0]["n"] <= 1
    assert await citizen.finished(40) == 0


@pytest.fixture
def case_systems():
    """Both platforms' webhook receivers."""
    made = {platform: WebhookReceiver([SECRET[platform]]) for platform in ("110", "12345")}
    yield made
    for receiver in made.values():
        receiver.close()


@on_loop
async def test_every_order_event_reaches_its_platform_once_across_a_refusal_and_a_leader_change(pair, case_systems):
    first, second, url = pair
    receivers = case_systems
    at_12345 = receivers["12345"]
    at_12345.fail_first = 2
    for platform, receiver in receivers.items():
        status, body = await second.api("PUT", "/v1/webhook", {"url": receiver.url, "secret": SECRET[platform]},
                                        token=LAB_TOKENS[platform])
        assert status == 200, body
    order_ids = [await _new_order(instance) for instance in (first, second, first)]
    await until(lambda: len(at_12345.attempts) >= 1)
    first.kill()   # the leader, between a refused delivery and the next
    order_ids += [await _new_order(second) for _ in range(2)]
    expected = {r["id"] for r in rows(url, "SELECT id FROM order_events WHERE order_id = ANY(?) AND action = 'created'",
                                      order_ids)}
    # Killed mid-attempt, the leader holds its claim until it lapses; by then the standby leads and takes it.
    await until(lambda: expected <= set(at_12345.applied), timeout=LEASE * 2 + CLAIM + 5)
    taken = collections.Counter(a["key"] for a in at_12345.attempts if a["status"] == 200)
    assert all(count == 1 for count in taken.values()), f"an event taken twice: {taken}"
    assert any(a["status"] == 503 for a in at_12345.attempts), "the refusal happened"
    for order_id in order_ids:
        trail = rows(url, "SELECT action FROM order_events WHERE order_id = ?", order_id)
        assert [e["action"] for e in trail].count("delivered") == 1, (order_id, trail)


async def _new_order(instance: Linkdesk) -> str:
    status, body = await instance.api("POST", "/v1/orders", {"to": "12345", "caller_number": CITIZEN,
                                                             "summary": "gas smell, 3rd floor"})
    assert status == 201, body
    return body["order"]["id"]


@pytest.fixture
def crashable_server():
    """A durable PostgreSQL of the test's own, to crash and bring back on its port."""
    cluster = Path(tempfile.mkdtemp(prefix="pg-crash-", dir=LAB_STATE))
    try:
        yield postgres.start(cluster, durable=True)
    finally:
        postgres.stop(cluster)
        shutil.rmtree(cluster, ignore_errors=True)


@on_loop
async def test_while_postgresql_is_down_a_key_fails_cleanly_and_linkdesk_carries_on_once_it_is_back(
        lab, phones, tmp_path, crashable_server):
    server = crashable_server
    linkdesk = Linkdesk(tmp_path, store_url=server.url())
    try:
        await linkdesk.ready()
        async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
            phones.operator(lab["110"].operators[0], press="*5", press_after=3.0)
            for op in lab["12345"].operators:
                phones.operator(op, answer_after=0.3)
            citizen = phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=20)
            await ami110.wait_for("AgentConnect", CallerIDNum=CITIZEN)
            postgres.crash(server)     # before the key, 3 s after the answer
            refused = await ami110.wait_for("UserEvent", UserEvent="LinkdeskKeyRefused", timeout=15)
            assert (refused.Route, refused.Reason) == ("transfer", "store-unavailable")
            status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
            assert (status, body["error"]["id"]) == (503, "store-unavailable")
            assert linkdesk.call("GET", "/readyz", token=None)[1]["not_ready"] == ["store"]
            postgres.start(server.cluster, durable=True, port=server.port)
            await until(lambda: linkdesk.call("GET", "/readyz", token=None)[0] == 200, timeout=20)
            # The same process, the same call: the citizen is still with the operator and now goes over.
            status, body = await linkdesk.api("POST", "/v1/transfers", {"operator": "1101", "to": "12345"})
            assert status == 201, body
            await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=20)
        assert linkdesk.process.poll() is None, "no restart"
        assert await citizen.finished(40) == 0
    finally:
        linkdesk.stop()
