"""Work, police and linkage orders: their lifecycle between the platforms.

    created → delivered → accepted | rejected (reason) ; accepted → feedback* → closed (result)

Only the addressee accepts, rejects, adds feedback and closes; either party
reads. Every change carries the version it was made against: a stale one is
refused (409), so no update is ever lost. Each change is one transaction:
the order, its audit-trail event, the outbox rows for the platforms'
webhooks and, with an Idempotency-Key, the response to replay.

This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

import re
import time
from typing import Callable

from linkdesk.bridge.core.errors import LinkdeskError
from linkdesk.bridge.core.ids import new_id
from linkdesk.bridge.core.numbers import caller_number
from linkdesk.bridge.core.platforms import Platforms
from linkdesk.bridge.core.ports import OrderStore

# WO: work order (to 12345), PO: police order (to 110), LO: linkage order.
ORDER_ID = re.compile(r"(WO|PO|LO)-[0-9a-f]{12}")
KINDS = {"work": "WO", "police": "PO", "linkage": "LO"}
PRIORITIES = ("urgent", "high", "normal", "low")
# action → (states it may follow, the state it leads to)
MOVES = {"accept": (("created", "delivered"), "accepted"), "reject": (("created", "delivered"), "rejected"),
         "feedback": (("accepted",), "accepted"), "close": (("accepted",), "closed")}
PAST = {"accept": "accepted", "reject": "rejected", "feedback": "feedback", "close": "closed"}
PUBLIC_FIELDS = ("id", "kind", "from_platform", "to_platform", "caller_number", "caller_withheld", "category",
                 "summary", "location", "priority", "state", "version", "reason", "result", "transfer_id",
                 "conference_id", "call_uniqueid", "call_linkedid", "created_at", "updated_at", "delivered_at",
                 "accepted_at", "rejected_at", "closed_at", "escalated_at")


def public(order: dict) -> dict:
    """The order as the platforms see it."""
    shown = {name: order.get(name) for name in PUBLIC_FIELDS}
    shown["caller_withheld"] = bool(shown["caller_withheld"])
    return shown


def is_order_id(text: str) -> bool:
    return bool(ORDER_ID.fullmatch(text))


class OrderError(LinkdeskError):
    """A refused order request."""


class OrderService:
    def __init__(self, store: OrderStore, platforms: set[str], on_rejected: Callable[[dict], None] | None = None,
                 roles: Platforms = Platforms()):
        """`platforms`: the names orders may go to; `roles`: what each is (the kind an order becomes)."""
        self.store, self.platforms, self.roles = store, platforms, roles
        self.on_rejected = on_rejected

    def create(self, platform: str, fields: dict, idempotency: tuple[str, str] | None = None) -> dict:
        """A new order from `platform`; its addressee's webhook gets `created`."""
        to = fields.get("to", "")
        if to not in self.platforms or to == platform:
            raise OrderError("order-bad-field", f"'to' must be another platform: one of {sorted(self.platforms)}")
        kind = fields.get("kind", "work")
        if kind not in KINDS or fields.get("priority", "normal") not in PRIORITIES:
            raise OrderError("order-bad-field", f"'kind' is one of {list(KINDS)}, 'priority' one of {PRIORITIES}")
        number = caller_number(str(fields.get("caller_number", "")), withheld=fields.get("withheld") is True)
        now = time.time()
        order = {"id": new_id(KINDS[kind]), "kind": kind, "from_platform": platform,
                 "to_platform": to, "caller_number": number.number, "caller_withheld": int(number.withheld),
                 "category": fields.get("category"), "summary": fields.get("summary"),
                 "location": fields.get("location"), "priority": fields.get("priority", "normal"),
                 "state": "created", "version": 1, "created_at": now, "updated_at": now}
        with self.store.transaction():
            self.store.insert(order)
            self.store.record(order, platform, "created", {}, [to], was=None)
            return self._answer(idempotency, platform, 201, {"order": public(order)})

    def act(self, platform: str, order_id: str, action: str, version: object, text: str = "",
            idempotency: tuple[str, str] | None = None) -> dict:
        """accept | reject (text: reason) | feedback (text: note) | close (text: result)."""
        order = self._visible(platform, order_id)
        if platform != order["to_platform"]:
            raise OrderError("order-forbidden", f"only {order['to_platform']}, the addressee, may {action} this order")
        allowed, after = MOVES[action]
        if order["state"] not in allowed:
            raise OrderError("order-illegal-move", f"cannot {action} an order that is {order['state']}")
        if action != "accept" and not text:
            raise OrderError("order-bad-field", f"{action} needs its {'reason' if action == 'reject' else 'text'}")
        if not isinstance(version, int) or isinstance(version, bool):
            raise OrderError("order-bad-field", "'version' must be the order's version (an integer)")
        now, was = time.time(), order["state"]
        changes = {"state": after, "updated_at": now, **_stamp(action, text, now)}
        with self.store.transaction():
            if not self.store.update(order_id, version, changes):
                current = self.store.get(order_id)
                raise OrderError("order-version-conflict", f"the order is at version {current['version']}, "
                                 f"not {version}", version=current["version"])
            order = self.store.get(order_id)
            detail = {"reject": {"reason": text}, "feedback": {"note": text}, "close": {"result": text}}.get(action, {})
            self.store.record(order, platform, PAST[action], detail, [order["to_platform"], order["from_platform"]],
                              was=was)
            answer = self._answer(idempotency, platform, 200, {"order": public(order)})
        if action == "reject" and self.on_rejected is not None:
            self.on_rejected(order)
        return answer

    def reject_current(self, platform: str, order_id: str, reason: str) -> dict:
        """Reject the order at its current version (the receiver's whisper key,
        which has no version to give): `act` with everything `act` checks."""
        order = self._visible(platform, order_id)
        return self.act(platform, order_id, "reject", order["version"], reason)

    def decide(self, platform: str, order_id: str, owner: str) -> dict:
        """The ownership decision of a three-way call (国办发〔2022〕12号: a matter
        whose owner is unclear is settled in the call; still unclear, the
        platform that received it first keeps it): either party records that
        `owner` takes the matter. The order is then addressed to `owner` (from
        the other party), open again for the new addressee to accept, and the
        decision is on its trail."""
        order = self._visible(platform, order_id)
        parties = (order["from_platform"], order["to_platform"])
        if not order.get("conference_id"):
            raise OrderError("order-illegal-move", "only a three-way call's order has an ownership decision")
        if owner not in parties:
            raise OrderError("order-bad-field", f"'owner' is one of this order's platforms: {', '.join(parties)}")
        if order["state"] not in ("created", "delivered", "accepted"):
            raise OrderError("order-illegal-move", f"cannot decide an order that is {order['state']}")
        other = parties[0] if owner == parties[1] else parties[1]
        changes = {"from_platform": other, "to_platform": owner, "updated_at": time.time()}
        if owner != order["to_platform"]:
            changes.update(state="created", kind=self.roles.owner_kind(owner) or order["kind"], accepted_at=None)
        with self.store.transaction():
            if not self.store.update(order_id, order["version"], changes):
                raise OrderError("order-version-conflict", "the order changed meanwhile; decide again")
            decided = self.store.get(order_id)
            self.store.record(decided, platform, "decided", {"owner": owner, "by": platform}, [owner, other],
                              was=order["state"])
        return public(decided)

    def get(self, platform: str, order_id: str) -> dict:
        """One order; the addressee's first look at it counts as its delivery."""
        order = self._visible(platform, order_id)
        if platform == order["to_platform"] and order["state"] == "created":
            order = self.mark_delivered(order_id, "read by the addressee") or order
        return public(order)

    def events(self, platform: str, order_id: str) -> list[dict]:
        self._visible(platform, order_id)
        return self.store.events(order_id)

    def search(self, platform: str, filters: dict, limit: int = 50, offset: int = 0) -> list[dict]:
        return [public(order) for order in self.store.search(platform, filters, limit, offset)]

    def mark_delivered(self, order_id: str, how: str) -> dict | None:
        """created → delivered (a webhook took it, or the addressee read it)."""
        order = self.store.get(order_id)
        if order is None or order["state"] != "created":
            return None
        with self.store.transaction():
            if not self.store.update(order_id, order["version"], {"state": "delivered", "delivered_at": time.time(),
                                                                  "updated_at": time.time()}):
                return None
            order = self.store.get(order_id)
            self.store.record(order, "linkdesk", "delivered", {"how": how},
                              [order["to_platform"], order["from_platform"]], was="created")
        return order

    def escalate_overdue(self, deadlines: dict[str, float]) -> list[str]:
        """Orders past their acceptance deadline: an `escalated` event each, once."""
        escalated = []
        for order in self.store.overdue(deadlines, time.time()):
            with self.store.transaction():
                if self.store.update(order["id"], order["version"], {"escalated_at": time.time()}):
                    order = self.store.get(order["id"])
                    self.store.record(order, "linkdesk", "escalated", {"deadline_s": deadlines[order["priority"]]},
                                      [order["to_platform"], order["from_platform"]], was=order["state"])
                    escalated.append(order["id"])
        return escalated

    def _visible(self, platform: str, order_id: str) -> dict:
        order = self.store.get(order_id) if is_order_id(order_id) else None
        if order is None or platform not in (order["from_platform"], order["to_platform"]):
            raise OrderError("order-not-found", f"no order {order_id!r}")
        return order

    def _answer(self, idempotency: tuple[str, str] | None, platform: str, status: int, body: dict) -> dict:
        if idempotency is not None:
            self.store.remember(platform, idempotency[0], idempotency[1], status, body)
        return body


def _stamp(action: str, text: str, now: float) -> dict:
    return {"accept": {"accepted_at": now}, "reject": {"rejected_at": now, "reason": text},
            "close": {"closed_at": now, "result": text}}.get(action, {})
