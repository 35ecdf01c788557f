"""Delivers order events from the outbox to the platforms' webhooks.

At least once, in order per platform, surviving restarts (the outbox is in
the store): an event is marked done only when the webhook answered 2xx;
otherwise it is tried again after a capped exponential backoff. Each POST
carries `Idempotency-Key: <event id>` (the receiver applies each key once)
and `X-Linkdesk-Signature: sha256=<HMAC-SHA256 of the body with the
platform's secret>`. Also raises escalations for orders past their
acceptance deadline.

This module imports neither Twisted nor panoramisk: the POST is done by a
`post(url, body, headers) -> status` coroutine given to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Awaitable, Callable

from linkdesk.bridge.core.orders import OrderService

log = logging.getLogger("linkdesk.outbox")
Post = Callable[[str, bytes, dict], Awaitable[int]]


@dataclass(frozen=True)
class DeliveryTiming:
    retry_base: float = 1.0     # seconds before the first retry; doubled each time
    retry_cap: float = 60.0     # never longer than this between tries
    poll: float = 0.5           # how often the outbox is looked at
    deadlines: tuple[tuple[str, float], ...] = (("urgent", 60.0), ("high", 300.0), ("normal", 900.0),
                                                ("low", 3600.0))


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def urllib_post(url: str, body: bytes, headers: dict) -> int:
    """POST in a worker thread (urllib blocks); the HTTP status, 0 when unreachable."""
    def post() -> int:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return reply.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return 0
    return await asyncio.to_thread(post)


class Outbox:
    def __init__(self, orders: OrderService, timing: DeliveryTiming = DeliveryTiming(), post: Post = urllib_post):
        self.orders, self.timing, self.post = orders, timing, post
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
                self.orders.escalate_overdue(dict(self.timing.deadlines))
            except Exception:
                log.exception("outbox round failed; trying again")
            await asyncio.sleep(self.timing.poll)

    async def deliver_due(self) -> int:
        """One round: each platform's oldest due event, all platforms at once."""
        rows = self.orders.store.due_deliveries(time.time())
        results = await asyncio.gather(*(self._deliver(row) for row in rows))
        return sum(results)

    async def _deliver(self, row: dict) -> bool:
        store = self.orders.store
        hook = store.webhook(row["platform"])
        body = row["payload"].encode()
        status = 0
        if hook is not None:
            status = await self.post(hook["url"], body, {
                "Content-Type": "application/json", "Idempotency-Key": row["event_id"],
                "X-Linkdesk-Signature": signature(hook["secret"], body)})
        with store.transaction():
            if 200 <= status < 300:
                store.delivered(row["id"])
            else:
                delay = min(self.timing.retry_cap, self.timing.retry_base * 2 ** row["attempts"])
                store.retry_later(row["id"], time.time() + delay, f"HTTP {status}" if status else "unreachable")
        if not 200 <= status < 300:
            log.warning("webhook of %s: event %s not taken (%s); again in %.1f s", row["platform"],
                        row["event_id"], status or "unreachable", delay)
            return False
        payload = json.loads(body)
        if payload["action"] == "created" and row["platform"] == payload["order"]["to_platform"]:
            self.orders.mark_delivered(payload["order_id"], "taken by the addressee's webhook")
        return True
