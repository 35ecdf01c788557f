"""Two instances on one store share the outbox without sending an event
twice: each round claims what it takes (OrderStore.claim_due), a claim holds
the event from the other instance until the attempt ends or the claim
lapses, and an outbox that is not acting (a standby) sends nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

from ami_probe import on_loop
from linkdesk.bridge.core.orders import OrderService
from linkdesk.bridge.core.outbox import DeliveryTiming, Outbox
from linkdesk.bridge.store.database import open_store

PLATFORMS = {"110", "12345", "gas"}


def _orders(where) -> OrderService:
    """The order service of an instance on the store at `where`, every platform with a webhook."""
    orders = OrderService(open_store(where).orders, PLATFORMS)
    with orders.store.transaction():
        for platform in PLATFORMS:
            orders.store.set_webhook(platform, f"https://{platform}.example/hook", ["whsec_" + "A" * 32])
    return orders


def _new(orders: OrderService, to: str = "12345") -> str:
    return orders.create("110", {"to": to, "caller_number": "13800138000"})["order"]["id"]


def test_an_event_claimed_by_one_instance_is_not_given_to_the_other(store_at):
    first, second = _orders(store_at()), _orders(store_at())
    _new(first)
    taken = first.store.claim_due(1e12, "a", 60)
    assert [row["platform"] for row in taken] == ["12345"]
    assert second.store.claim_due(1e12, "b", 60) == []
    assert [row["id"] for row in first.store.claim_due(1e12, "a", 60)] == [taken[0]["id"]], \
        "its holder may take it up again"


def test_an_attempt_that_ended_frees_the_event_for_either_instance(store_at):
    first, second = _orders(store_at()), _orders(store_at())
    _new(first)
    row = first.store.claim_due(1e12, "a", 60)[0]
    with first.store.transaction():
        first.store.retry_later(row["id"], 0.0, "HTTP 503", 1.0)
    assert [again["id"] for again in second.store.claim_due(1e12, "b", 60)] == [row["id"]]


def test_a_lapsed_claim_lets_the_other_instance_take_the_event(store_at):
    first, second = _orders(store_at()), _orders(store_at())
    _new(first)
    now = time.time() + 1
    row = first.store.claim_due(now, "a", 60)[0]
    assert second.store.claim_due(now + 59, "b", 60) == []
    assert [again["id"] for again in second.store.claim_due(now + 61, "b", 60)] == [row["id"]]


def test_two_instances_claiming_at_once_deliver_every_event_exactly_once(store_at):
    where = store_at()
    seed = _orders(where)
    for to in ["12345", "gas"] * 10:
        _new(seed, to)
    expected = {row[0] for row in seed.store.db.execute("SELECT event_id FROM outbox").fetchall()}
    sent, failures = Counter(), []
    start = threading.Barrier(2)

    def instance(holder: str) -> None:
        # Each thread its own connection, as each instance has its own.
        store = _orders(where).store
        start.wait()
        try:
            while True:
                rows = store.claim_due(1e12, holder, 60)
                if not rows and not store.due_deliveries(1e12):
                    return
                for row in rows:
                    sent[row["event_id"]] += 1
                    with store.transaction():
                        store.delivered(row["id"])
        except Exception as exc:    # the failure is the finding: reported below
            failures.append(exc)
        finally:
            store.db.close()

    threads = [threading.Thread(target=instance, args=(holder,)) for holder in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert set(sent) == expected and set(sent.values()) == {1}, sent


class Switch:
    """`acting()` for the outbox, counting how often a round asked."""

    def __init__(self):
        self.on, self.asked = False, 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.on


@on_loop
async def test_a_standby_outbox_sends_nothing_and_sends_once_it_acts(store_at):
    orders, posted, acting = _orders(store_at()), [], Switch()

    async def post(url, body, headers):
        posted.append(headers["Idempotency-Key"])
        return 204
    _new(orders)
    outbox = Outbox(orders, DeliveryTiming(poll=0.01), post, acting=acting, holder="b")
    outbox.start()
    try:
        await _until(lambda: acting.asked >= 5, "the outbox's rounds")
        assert posted == [], "a standby delivers nothing"
        acting.on = True
        await _until(lambda: posted, "a delivery once acting")
    finally:
        outbox.stop()
    assert len(posted) == 1


async def _until(predicate, what: str) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} in 10 s"
        await asyncio.sleep(0.01)
