"""The leader lease (bridge/core/leadership.py) as a row of the `leases`
table, on the store's clock (Database.now: PostgreSQL's, for instances on
several hosts; the host's, for SQLite, whose instances share one host).

Each statement is its own transaction: taking the lease is one upsert whose
condition (free, lapsed, or ours) the database checks under the row's lock,
so two instances trying at once cannot both win."""

from __future__ import annotations

from linkdesk.bridge.store.sql import Database, rows


class LeaseStore:
    def __init__(self, db: Database):
        self.db = db

    def acquire(self, name: str, holder: str, seconds: float) -> int | None:
        now = self.db.now()
        with self.db:
            self.db.execute(
                "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?, ?, 1, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
                "epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END "
                "WHERE leases.expires_at < ? OR leases.holder = excluded.holder",
                [name, holder, now + seconds, now])
            row = self.holder(name)
        return row["epoch"] if row is not None and row["holder"] == holder else None

    def renew(self, name: str, holder: str, epoch: int, seconds: float) -> bool:
        now = self.db.now()
        with self.db:
            return self.db.execute("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND epoch = ?",
                                   [now + seconds, name, holder, epoch]).rowcount == 1

    def release(self, name: str, holder: str) -> None:
        with self.db:
            self.db.execute("UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?", [name, holder])

    def holder(self, name: str) -> dict | None:
        found = rows(self.db.execute("SELECT holder, epoch, expires_at FROM leases WHERE name = ?", [name]))
        return found[0] if found else None
