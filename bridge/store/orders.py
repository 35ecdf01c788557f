"""Orders in the store: rows, the append-only audit trail, the outbox, webhooks
and idempotency keys. Nothing here commits on its own: the order service
wraps each change (with its trail, outbox rows and idempotency record) in
one transaction, so a change is stored whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid

from linkdesk.bridge.core.orders import public
from linkdesk.bridge.store.sql import Database, insert, rows

# An attempt ended: the event is nobody's until the next claim (claim_due).
UNCLAIMED = "claimed_by = NULL, claimed_until = NULL"


class OrderStore:
    def __init__(self, db: Database, listeners=()):
        self.db = db
        # callback(order, action, state before) for each committed event (metrics)
        self.listeners = tuple(listeners)
        self._held: list | None = None

    @contextlib.contextmanager
    def transaction(self):
        """One transaction; the listeners hear of the events recorded in it once
        it has committed, and never of a rolled-back one."""
        if self._held is not None:
            yield   # already inside one: its commit is this one's
            return
        self._held = held = []
        try:
            with self.db:
                yield
        finally:
            self._held = None
        for event in held:
            self._tell(*event)

    def _tell(self, order: dict, action: str, was: str | None) -> None:
        for listener in self.listeners:
            listener(order, action, was)

    # -- orders ----------------------------------------------------------
    def insert(self, order: dict) -> None:
        insert(self.db, "orders", order)

    def get(self, order_id: str) -> dict | None:
        found = rows(self.db.execute("SELECT * FROM orders WHERE id = ?", [order_id]))
        return found[0] if found else None

    def update(self, order_id: str, version: int, changes: dict) -> bool:
        """Apply `changes` and bump the version, only if the order is still at
        `version`; False (nothing changed) if another update came first."""
        sets = ", ".join(f"{name} = ?" for name in changes)
        cursor = self.db.execute(f"UPDATE orders SET {sets}, version = version + 1 WHERE id = ? AND version = ?",
                                 [*changes.values(), order_id, version])
        return cursor.rowcount == 1

    def search(self, platform: str | None, filters: dict, limit: int, offset: int) -> list[dict]:
        """Orders `platform` sent or received (None: all of them), oldest first."""
        where, args = ["(from_platform = ? OR to_platform = ?)"], [platform, platform]
        if platform is None:
            where, args = ["1 = 1"], []
        for name, column in (("state", "state"), ("kind", "kind"), ("to", "to_platform"), ("from", "from_platform")):
            if filters.get(name):
                where.append(f"{column} = ?")
                args.append(filters[name])
        if filters.get("since") is not None:
            where.append("created_at >= ?")
            args.append(filters["since"])
        return rows(self.db.execute(f"SELECT * FROM orders WHERE {' AND '.join(where)} "
                                       "ORDER BY created_at, id LIMIT ? OFFSET ?", [*args, limit, offset]))

    def overdue(self, deadlines: dict[str, float], now: float) -> list[dict]:
        """Orders not yet accepted or rejected whose priority's deadline has passed, not yet escalated."""
        found = []
        for priority, seconds in deadlines.items():
            # `created_at < now - deadline` (not `created_at + deadline < now`): the index orders_unanswered serves it.
            found += rows(self.db.execute(
                "SELECT * FROM orders WHERE state IN ('created', 'delivered') AND escalated_at IS NULL "
                "AND priority = ? AND created_at < ?", [priority, now - seconds]))
        return found

    # -- the trail and the outbox ---------------------------------------------
    def record(self, order: dict, actor: str, action: str, detail: dict, platforms: list[str],
               was: str | None = None) -> dict:
        """Append an event to the order's trail, and queue it for each platform's
        webhook; `was` is the order's state before the event (None: a new order)."""
        event = {"id": f"ev-{uuid.uuid4().hex}", "order_id": order["id"], "at": time.time(), "actor": actor,
                 "action": action, "version": order["version"], "detail": json.dumps(detail, ensure_ascii=False)}
        self.db.execute("INSERT INTO order_events (id, order_id, at, actor, action, version, detail) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", list(event.values()))
        payload = json.dumps({"event_id": event["id"], "order_id": order["id"], "action": action,
                              "actor": actor, "at": event["at"], "version": order["version"], "detail": detail,
                              "order": public(order)}, ensure_ascii=False)
        for platform in platforms:
            if self.webhook(platform) is not None:
                self.db.execute("INSERT INTO outbox (event_id, platform, payload, next_at, queued_at) "
                                "VALUES (?, ?, ?, ?, ?)", [event["id"], platform, payload, event["at"], event["at"]])
        if self._held is not None:
            self._held.append((order, action, was))
        else:
            self._tell(order, action, was)
        return event

    def counts(self) -> list[tuple[str, str, int]]:
        """(kind, state, how many) over all orders."""
        return [tuple(row) for row in self.db.execute("SELECT kind, state, COUNT(*) FROM orders GROUP BY 1, 2")]

    def events(self, order_id: str) -> list[dict]:
        found = rows(self.db.execute("SELECT * FROM order_events WHERE order_id = ? ORDER BY at, rowid",
                                     [order_id]))
        return [{**row, "detail": json.loads(row["detail"] or "{}")} for row in found]

    def due_deliveries(self, now: float) -> list[dict]:
        """What claim_due would find for a holder with no claims, claiming nothing."""
        return rows(self.db.execute(
            "SELECT * FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox WHERE done_at IS NULL AND dead_at IS NULL "
            "GROUP BY platform) AND next_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)", [now, now]))

    def claim_due(self, now: float, holder: str, seconds: float) -> list[dict]:
        """Per platform, its oldest undelivered event, if it is due and no other
        instance's claim on it is current: claimed for `holder` for `seconds`.
        A platform gets its events in order, and one failing holds back only
        its own (until it is parked as a dead letter).

        One UPDATE claims, so two instances claiming at once never get the
        same event: SQLite runs one writer at a time; PostgreSQL locks the
        rows it picks (FOR UPDATE SKIP LOCKED: the other claimer passes them
        by rather than waiting) and the claim's condition is checked again
        on a row another claim changed meanwhile."""
        until = now + seconds
        with self.db:
            self.db.execute(
                "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id IN (SELECT id FROM outbox WHERE id IN "
                "(SELECT MIN(id) FROM outbox WHERE done_at IS NULL AND dead_at IS NULL GROUP BY platform) "
                "AND next_at <= ? AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)"
                f"{self.db.skip_locked}) AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)",
                [holder, until, now, now, holder, now, holder])
            return rows(self.db.execute("SELECT * FROM outbox WHERE claimed_by = ? AND claimed_until = ? "
                                        "AND done_at IS NULL ORDER BY id", [holder, until]))

    def delivered(self, row_id: int) -> None:
        self.db.execute(f"UPDATE outbox SET done_at = ?, attempts = attempts + 1, {UNCLAIMED} WHERE id = ?",
                        [time.time(), row_id])

    def retry_later(self, row_id: int, at: float, error: str, now: float) -> None:
        """A failed attempt: tried again at `at`; failing since its first failure."""
        self.db.execute("UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, "
                        f"failing_since = COALESCE(failing_since, ?), {UNCLAIMED} WHERE id = ?",
                        [at, error[:500], now, row_id])

    def park(self, row_id: int, error: str, now: float) -> None:
        """A failed attempt after which the event is a dead letter: never tried again unless requeued."""
        self.db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?, dead_at = ?, "
                        f"failing_since = COALESCE(failing_since, ?), {UNCLAIMED} WHERE id = ?",
                        [error[:500], now, now, row_id])

    def dead_letters(self) -> list[dict]:
        """The parked events, oldest first, with what their last attempt met."""
        return rows(self.db.execute(
            f"SELECT id, platform, event_id, {self.db.json_text('payload', 'order_id')} AS order_id, "
            f"{self.db.json_text('payload', 'action')} AS action, attempts, last_error, queued_at, failing_since, "
            "dead_at FROM outbox WHERE dead_at IS NOT NULL ORDER BY id"))

    def requeue(self, row_ids: list[int], now: float) -> int:
        """Put dead letters back in their platform's queue, due now; how many were."""
        marks = ", ".join("?" * len(row_ids))
        return self.db.execute(f"UPDATE outbox SET dead_at = NULL, failing_since = NULL, next_at = ? "
                               f"WHERE dead_at IS NOT NULL AND id IN ({marks})", [now, *row_ids]).rowcount

    def backlog(self) -> list[dict]:
        """Per platform with undelivered or parked events: the oldest undelivered
        event's queueing time (None when only dead letters remain), how many
        wait, and how many are parked."""
        return rows(self.db.execute(
            "SELECT platform, MIN(CASE WHEN dead_at IS NULL THEN queued_at END) AS oldest, "
            "COUNT(CASE WHEN dead_at IS NULL THEN 1 END) AS pending, COUNT(dead_at) AS dead "
            "FROM outbox WHERE done_at IS NULL GROUP BY platform"))

    # -- webhooks and idempotency ------------------------------------------------
    def webhook(self, platform: str) -> dict | None:
        """The platform's url and its secrets (a list, newest first), or None."""
        found = rows(self.db.execute("SELECT * FROM webhooks WHERE platform = ?", [platform]))
        return {**found[0], "secrets": json.loads(found[0]["secrets"])} if found else None

    def set_webhook(self, platform: str, url: str, secrets: list[str]) -> None:
        self.db.execute("INSERT INTO webhooks (platform, url, secrets, updated_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (platform) DO UPDATE SET url = excluded.url, secrets = excluded.secrets, "
                        "updated_at = excluded.updated_at", [platform, url, json.dumps(secrets), time.time()])

    def remembered(self, platform: str, key: str) -> dict | None:
        found = rows(self.db.execute("SELECT * FROM idempotency WHERE platform = ? AND key = ?", [platform, key]))
        return found[0] if found else None

    def remember(self, platform: str, key: str, fingerprint: str, status: int, body: dict) -> None:
        self.db.execute("INSERT INTO idempotency (platform, key, fingerprint, status, body, at) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [platform, key, fingerprint, status,
                                                        json.dumps(body, ensure_ascii=False), time.time()])

