"""Three-way conferences' records and timelines in SQLite."""

from __future__ import annotations

import sqlite3
import time

from linkdesk.bridge.store.orders import rows


class ConferenceStore:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def conference_event(self, conference_id: str, pbx: str, what: str, channel: str | None = None,
                         role: str | None = None, detail: str | None = None) -> None:
        """Add to a conference's timeline (`started`, `joined`, `left`, `muted`,
        `unmuted`, `ended`, `call-failed`), creating its record on first sight."""
        now = time.time()
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO conferences (id, pbx, started_at) VALUES (?, ?, ?)",
                              [conference_id, pbx, now])
            if what == "ended":
                self.conn.execute("UPDATE conferences SET ended_at = ? WHERE id = ?", [now, conference_id])
            self.conn.execute("INSERT INTO conference_events (conference_id, at, what, channel, role, detail) "
                              "VALUES (?, ?, ?, ?, ?, ?)", [conference_id, now, what, channel, role, detail])

    def conference(self, conference_id: str) -> dict | None:
        found = rows(self.conn.execute("SELECT * FROM conferences WHERE id = ?", [conference_id]))
        return found[0] if found else None

    def conference_timeline(self, conference_id: str) -> list[dict]:
        return rows(self.conn.execute("SELECT * FROM conference_events WHERE conference_id = ? ORDER BY at, rowid",
                                      [conference_id]))
