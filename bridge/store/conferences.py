"""Three-way conferences' records and timelines in the store."""

from __future__ import annotations

import time

from linkdesk.bridge.store.sql import Database, rows


class ConferenceStore:
    def __init__(self, db: Database):
        self.db = db

    def conference_event(self, conference_id: str, pbx: str, what: str, channel: str | None = None,
                         role: str | None = None, detail: str | None = None) -> None:
        """Add to a conference's timeline (`started`, `joined`, `left`, `muted`,
        `unmuted`, `ended`, `call-failed`), creating its record on first sight."""
        now = time.time()
        with self.db:
            self.db.execute("INSERT INTO conferences (id, pbx, started_at) VALUES (?, ?, ?) "
                            "ON CONFLICT (id) DO NOTHING", [conference_id, pbx, now])
            if what == "ended":
                self.db.execute("UPDATE conferences SET ended_at = ? WHERE id = ?", [now, conference_id])
            self.db.execute("INSERT INTO conference_events (conference_id, at, what, channel, role, detail) "
                            "VALUES (?, ?, ?, ?, ?, ?)", [conference_id, now, what, channel, role, detail])

    def conference(self, conference_id: str) -> dict | None:
        found = rows(self.db.execute("SELECT * FROM conferences WHERE id = ?", [conference_id]))
        return found[0] if found else None

    def conference_timeline(self, conference_id: str) -> list[dict]:
        return rows(self.db.execute("SELECT * FROM conference_events WHERE conference_id = ? ORDER BY at, rowid",
                                    [conference_id]))
