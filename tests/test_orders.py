"""Orders without a network: the lifecycle and its refusals, migrations of an
old store, the outbox's retries, order and signatures, and the CLI."""

from __future__ import annotations

import base64
import json
import sqlite3
import time

import pytest

from ami_probe import on_loop
from linkdesk.bridge.cli.main import main as cli_main
from linkdesk.bridge.store.migrations import MIGRATIONS
from linkdesk.bridge.core.orders import OrderError, OrderService
from linkdesk.bridge.core.outbox import DeliveryTiming, Outbox
from linkdesk.bridge.core.webhook_signing import signed_headers
from linkdesk.bridge.core.webhook_urls import UrlPolicy
from linkdesk.bridge.core.webhooks import WebhookService
from linkdesk.bridge.store.database import open_store
from linkdesk.bridge.store.sqlite import SqliteDatabase

SECRETS = {"110": "whsec_" + base64.b64encode(b"secret-of-110-xxxxxxxxxxxx").decode(),
           "12345": "whsec_" + base64.b64encode(b"secret-of-12345-xxxxxxxxxx").decode()}
LOOPBACK = UrlPolicy(allow_http=frozenset({"127.0.0.1"}), allow_hosts=frozenset({"127.0.0.1"}))


@pytest.fixture
def orders(store_at):
    service = OrderService(open_store(store_at("o.db")).orders, {"110", "12345"})
    hooks = WebhookService(service.store, LOOPBACK)
    for platform, secret in SECRETS.items():
        hooks.register(platform, f"http://127.0.0.1:1/{platform}", [secret])
    return service


def _new(orders, **fields) -> dict:
    return orders.create("110", {"to": "12345", "caller_number": "+86 138 0013 8000", **fields})["order"]


def test_an_order_goes_created_delivered_accepted_feedback_closed_with_a_version_each_step(orders):
    order = _new(orders, summary="gas smell")
    assert (order["state"], order["version"], order["caller_number"]) == ("created", 1, "13800138000")
    assert orders.get("12345", order["id"])["state"] == "delivered", "the addressee's read delivers it"
    version = 2
    for action, text, state in (("accept", "", "accepted"), ("feedback", "on the way", "accepted"),
                                ("feedback", "fixed", "accepted"), ("close", "valve replaced", "closed")):
        order = orders.act("12345", order["id"], action, version, text)["order"]
        version += 1
        assert (order["state"], order["version"]) == (state, version)
    assert order["result"] == "valve replaced" and order["closed_at"]
    trail = orders.events("110", order["id"])
    assert [e["action"] for e in trail] == ["created", "delivered", "accepted", "feedback", "feedback", "closed"]
    assert [e["version"] for e in trail] == [1, 2, 3, 4, 5, 6]
    assert trail[3]["detail"] == {"note": "on the way"} and trail[2]["actor"] == "12345"


def test_listeners_hear_of_an_event_after_its_commit_and_never_of_a_rollback(store_at):
    heard = []
    store = open_store(store_at("l.db"), order_listeners=[
        lambda order, action, was: heard.append((action, _committed(store, order["id"])))]).orders
    orders = OrderService(store, {"110", "12345"})
    order = _new(orders)
    assert heard == [("created", True)], "told once the order is in the store, not before"
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.record(order, "linkdesk", "escalated", {}, ["12345"], was="created")
            raise RuntimeError("something after the event failed")
    assert heard == [("created", True)]
    assert [e["action"] for e in orders.events("110", order["id"])] == ["created"]


def _committed(store, order_id: str) -> bool:
    # Read through a second connection: it sees only committed rows.
    other = store.db.reopen_read_only()
    try:
        return other.execute("SELECT COUNT(*) FROM orders WHERE id = ?", [order_id]).fetchone()[0] == 1
    finally:
        other.close()


@pytest.mark.parametrize("who, action, version, text, reason", [
    ("110", "accept", 1, "", "order-forbidden"),            # only the addressee
    ("12345", "accept", 7, "", "order-version-conflict"),   # stale version
    ("12345", "accept", "1", "", "order-bad-field"),        # not an integer
    ("12345", "reject", 1, "", "order-bad-field"),          # a rejection needs its reason
    ("12345", "close", 1, "done", "order-illegal-move"),    # not accepted yet
    ("119", "accept", 1, "", "order-not-found"),            # not a party to it
])
def test_refusals_name_their_reason_and_change_nothing(orders, who, action, version, text, reason):
    order = _new(orders)
    with pytest.raises(OrderError) as err:
        orders.act(who, order["id"], action, version, text)
    assert err.value.reason == reason
    assert orders.store.get(order["id"])["version"] == 1 and len(orders.store.events(order["id"])) == 1


def test_a_rejection_hands_the_order_to_the_call_side(store_at):
    rejected = []
    service = OrderService(open_store(store_at("o.db")).orders, {"110", "12345"}, on_rejected=rejected.append)
    order = service.create("110", {"to": "12345"})["order"]
    service.act("12345", order["id"], "reject", 1, "a police matter")
    assert [(o["id"], o["state"], o["reason"]) for o in rejected] == [(order["id"], "rejected", "a police matter")]


def test_a_linkage_order_goes_to_a_unit_which_works_it_like_a_platform(store_at):
    service = OrderService(open_store(store_at("o.db")).orders, {"110", "12345", "gas"})
    order = service.create("110", {"to": "gas", "kind": "linkage", "category": "gas", "summary": "gas smell"})["order"]
    assert order["id"].startswith("LO-") and order["to_platform"] == "gas"
    assert service.act("gas", order["id"], "accept", 1)["order"]["state"] == "accepted"
    assert [o["id"] for o in service.search("gas", {"kind": "linkage"})] == [order["id"]]
    assert service.search("12345", {}) == [], "a platform not involved sees nothing"


def test_overdue_orders_escalate_once(orders):
    order = _new(orders, priority="urgent")
    orders.store.db.execute("UPDATE orders SET created_at = created_at - 120 WHERE id = ?", [order["id"]])
    assert orders.escalate_overdue({"urgent": 60.0}) == [order["id"]]
    assert orders.escalate_overdue({"urgent": 60.0}) == []
    assert orders.events("110", order["id"])[-1]["action"] == "escalated"


def test_an_old_store_is_migrated_and_keeps_its_orders(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        MIGRATIONS[0](SqliteDatabase(db))
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO orders VALUES ('WO-0123456789ab', 'work', '110', '12345', '1', 0, NULL, "
                   "'created', 1.0)")
    store = open_store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    migrated = store.orders.get("WO-0123456789ab")
    assert (migrated["version"], migrated["priority"], migrated["updated_at"]) == (1, "normal", 1.0)


class FlakyHooks:
    """Refuses the first `failures` POSTs of each URL; records what it was sent."""

    def __init__(self, failures: int):
        self.failures, self.sent = failures, []

    async def post(self, url, body, headers):
        self.sent.append((url, json.loads(body), headers))
        refused = sum(1 for sent_url, _, _ in self.sent if sent_url == url) <= self.failures
        return 503 if refused else 204


@on_loop
async def test_the_outbox_retries_keeps_order_per_platform_and_signs_every_post(orders):
    order = _new(orders)
    hooks = FlakyHooks(failures=2)
    outbox = Outbox(orders, DeliveryTiming(retry_base=0.0, retry_cap=0.0), hooks.post)
    for _ in range(10):
        await outbox.deliver_due()
    to_12345 = [(payload["action"], headers) for url, payload, headers in hooks.sent if url.endswith("/12345")]
    assert [action for action, _ in to_12345] == ["created"] * 3 + ["delivered"], "created first, until taken"
    assert len({headers["Idempotency-Key"] for action, headers in to_12345 if action == "created"}) == 1
    for url, payload, headers in hooks.sent:
        secret = SECRETS[url.rsplit("/", 1)[1]]
        body = json.dumps(payload, ensure_ascii=False).encode()
        expected = signed_headers([secret], payload["event_id"], int(headers["webhook-timestamp"]), body)
        assert {name: headers[name] for name in expected} == expected
    assert orders.store.get(order["id"])["state"] == "delivered"
    assert orders.store.due_deliveries(1e12) == [], "everything taken"


@on_loop
async def test_a_refused_delivery_waits_a_capped_doubling_delay(orders):
    _new(orders)
    outbox = Outbox(orders, DeliveryTiming(retry_base=10.0, retry_cap=25.0), FlakyHooks(failures=99).post)
    delays = []
    for _ in range(4):
        row = orders.store.due_deliveries(1e12)[0]
        orders.store.db.execute("UPDATE outbox SET next_at = 0 WHERE id = ?", [row["id"]])
        await outbox.deliver_due()
        (next_at,) = orders.store.db.execute("SELECT next_at FROM outbox WHERE id = ?", [row["id"]]).fetchone()
        delays.append(round((next_at - time.time()) / 5) * 5)
    assert delays == [10, 20, 25, 25]


def test_the_cli_lists_shows_and_tells_the_trail(orders, store_at, capsys):
    order = _new(orders, summary="water main burst")
    orders.act("12345", order["id"], "accept", 1)
    store = str(store_at("o.db"))
    assert cli_main(["orders", "--store", store, "list"]) == 0
    assert order["id"] in capsys.readouterr().out
    assert cli_main(["orders", "--store", store, "--json", "events", order["id"]]) == 0
    assert [e["action"] for e in json.loads(capsys.readouterr().out)] == ["created", "accepted"]
    assert cli_main(["orders", "--store", store, "show", "WO-000000000000"]) == 1


def _room_order(store_at):
    """A work order 110 → 12345 made by a warm transfer: its room is named by it."""
    store = open_store(store_at("room.db"))
    service = OrderService(store.orders, {"110", "12345"})
    order = {"id": "WO-0123456789ab", "kind": "work", "from_platform": "110", "to_platform": "12345",
             "caller_number": "13800138000", "caller_withheld": 0, "conference_id": "WO-0123456789ab",
             "state": "created", "version": 1, "priority": "normal", "created_at": 1.0, "updated_at": 1.0}
    with store.orders.transaction():
        store.orders.insert(order)
    return service


def test_the_ownership_decision_readdresses_the_order_to_the_platform_that_takes_it(store_at):
    service = _room_order(store_at)
    decided = service.decide("12345", "WO-0123456789ab", "110")        # 12345 says: it is 110's
    assert (decided["from_platform"], decided["to_platform"], decided["kind"]) == ("12345", "110", "police")
    assert decided["state"] == "created" and decided["version"] == 2
    trail = service.events("110", "WO-0123456789ab")
    assert trail[-1]["action"] == "decided" and trail[-1]["detail"] == {"owner": "110", "by": "12345"}


def test_deciding_for_the_current_addressee_only_records_the_decision(store_at):
    service = _room_order(store_at)
    decided = service.decide("110", "WO-0123456789ab", "12345")
    assert (decided["from_platform"], decided["to_platform"], decided["kind"]) == ("110", "12345", "work")
    assert service.events("12345", "WO-0123456789ab")[-1]["action"] == "decided"


@pytest.mark.parametrize("platform, owner, reason", [
    ("110", "gas", "order-bad-field"), ("gas", "110", "order-not-found"), ("110", "", "order-bad-field")])
def test_a_bad_decision_is_refused_and_changes_nothing(store_at, platform, owner, reason):
    service = _room_order(store_at)
    with pytest.raises(OrderError) as refused:
        service.decide(platform, "WO-0123456789ab", owner)
    assert refused.value.reason == reason
    assert service.get("110", "WO-0123456789ab")["version"] == 1
