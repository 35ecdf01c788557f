"""Delivers order events from the outbox to the platforms' webhooks.

At least once, in order per platform, surviving restarts (the outbox is in
the store): an event is marked done only when the webhook answered 2xx;
otherwise it is tried again after a capped exponential backoff, until it has
failed for `dead_letter_after` seconds: then it is parked as a dead letter
(no longer tried, so the platform's later events go on) until requeued. Each
POST carries `Idempotency-Key: <event id>` (the receiver applies each key
once) and the Standard Webhooks headers, signed at each attempt with every
key the platform registered (webhook_signing). Also raises escalations for
orders past their acceptance deadline.

This module imports neither Twisted nor panoramisk: the POST is done by a
`post(url, body, headers) -> status` coroutine given to it, which raises
DeliveryFailed when no HTTP answer came.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from linkdesk.bridge.core.orders import OrderService
from linkdesk.bridge.core.webhook_signing import signed_headers

log = logging.getLogger("linkdesk.outbox")
Post = Callable[[str, bytes, dict], Awaitable[int]]
# An attempt's outcome (the metrics' label): delivered (2xx), rejected (another
# HTTP status), a DeliveryFailed's refused (URL policy), unreachable or
# timeout, or no_webhook (the platform has none registered).


class DeliveryFailed(Exception):
    """No HTTP answer: `outcome` is refused, unreachable or timeout; the message says more."""

    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True)
class DeliveryTiming:
    retry_base: float = 1.0     # seconds before the first retry; doubled each time
    retry_cap: float = 60.0     # never longer than this between tries
    poll: float = 0.5           # how often the outbox is looked at
    dead_letter_after: float = 86400.0   # seconds of failing after which an event is parked
    deadlines: tuple[tuple[str, float], ...] = (("urgent", 60.0), ("high", 300.0), ("normal", 900.0),
                                                ("low", 3600.0))


def _no_report(*_) -> None:
    """Nobody listens (tests that count nothing)."""


class Outbox:
    """`on_attempt(platform, outcome)` hears of every attempt; `on_backlog(rows)`
    gets the store's backlog (OrderStore.backlog) after every round.

    With several instances on one store, rounds run only while `acting()`
    (the leader: core/leadership.py), and each claims the events it takes
    for `claim_seconds` as `holder` (longer than a POST may take): should
    a paused leader and its successor both run a round, neither delivers
    what the other holds."""

    def __init__(self, orders: OrderService, timing: DeliveryTiming, post: Post,
                 clock: Callable[[], float] = time.time, on_attempt=_no_report, on_backlog=_no_report,
                 acting: Callable[[], bool] = lambda: True, holder: str = "linkdesk", claim_seconds: float = 60.0):
        self.orders, self.timing, self.post, self.clock = orders, timing, post, clock
        self.on_attempt, self.on_backlog = on_attempt, on_backlog
        self.acting, self.holder, self.claim_seconds = acting, holder, claim_seconds
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                if self.acting():
                    await self.deliver_due()
                    self.orders.escalate_overdue(dict(self.timing.deadlines))
            except Exception:
                log.exception("outbox round failed; trying again")
            await asyncio.sleep(self.timing.poll)

    async def deliver_due(self) -> int:
        """One round: each platform's oldest due event, all platforms at once; how many were taken."""
        rows = self.orders.store.claim_due(self.clock(), self.holder, self.claim_seconds)
        results = await asyncio.gather(*(self._deliver(row) for row in rows))
        self.on_backlog(self.orders.store.backlog())
        return sum(results)

    async def _deliver(self, row: dict) -> bool:
        outcome, error = await self._attempt(row)
        self.on_attempt(row["platform"], outcome)
        if outcome != "delivered":
            self._failed(row, error)
            return False
        with self.orders.store.transaction():
            self.orders.store.delivered(row["id"])
        payload = json.loads(row["payload"])
        if payload["action"] == "created" and row["platform"] == payload["order"]["to_platform"]:
            self.orders.mark_delivered(payload["order_id"], "taken by the addressee's webhook")
        return True

    async def _attempt(self, row: dict) -> tuple[str, str]:
        """One POST of the row's event: its outcome, and the error to keep."""
        hook = self.orders.store.webhook(row["platform"])
        if hook is None:
            return "no_webhook", "no webhook registered"
        body = row["payload"].encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": row["event_id"],
                   **signed_headers(hook["secrets"], row["event_id"], int(self.clock()), body)}
        try:
            status = await self.post(hook["url"], body, headers)
        except DeliveryFailed as exc:
            return exc.outcome, str(exc)
        return ("delivered", "") if 200 <= status < 300 else ("rejected", f"HTTP {status}")

    def _failed(self, row: dict, error: str) -> None:
        store, now = self.orders.store, self.clock()
        since = row["failing_since"] if row["failing_since"] is not None else now
        with store.transaction():
            if now - since >= self.timing.dead_letter_after:
                store.park(row["id"], error, now)
                log.error("webhook of %s: event %s parked as a dead letter after %.0f s of failing (%s); "
                          "`linkdesk orders requeue %d` puts it back", row["platform"], row["event_id"],
                          now - since, error, row["id"])
                return
            delay = min(self.timing.retry_cap, self.timing.retry_base * 2 ** row["attempts"])
            store.retry_later(row["id"], now + delay, error, now)
        log.warning("webhook of %s: event %s not taken (%s); again in %.1f s", row["platform"],
                    row["event_id"], error, delay)
