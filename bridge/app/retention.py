"""`serve`'s daily retention purge: at start and then once a day, what is
older than `[store] retention_days` is anonymised (bridge/store/retention.py),
in batches, each its own short transaction, with the loop free between
them, so that an AGI session or HTTP call waits at most one batch."""

from __future__ import annotations

import logging
import time
from typing import Callable

from twisted.internet import task
from twisted.internet.interfaces import IReactorTime

from linkdesk.bridge.store.retention import PurgeReport, purge
from linkdesk.bridge.store.sql import Database, StoreError

log = logging.getLogger("linkdesk.retention")
DAY = 86400.0


class DailyPurge:
    """Runs the purge every day on the store's own connection (the loop's thread)."""

    def __init__(self, conn: Database, days: int, clock: IReactorTime,
                 now: Callable[[], float] = time.time, batch: int = 500):
        self.conn, self.days, self.clock, self.now, self.batch = conn, days, clock, now, batch
        self._call = task.LoopingCall(self.run)
        self._call.clock = clock

    def start(self) -> None:
        self._call.start(DAY, now=True)

    def stop(self) -> None:
        if self._call.running:
            self._call.stop()

    def run(self):
        """One purge, batch after batch; the Deferred fires when it is done
        (LoopingCall waits for it before it counts the next day)."""
        now = self.now()
        before = now - self.days * DAY
        done = PurgeReport(0, 0, 0, 0, 0, 0)

        def batch():
            nonlocal done
            try:
                report = purge(self.conn, before, now, self.batch)
            except StoreError as exc:    # e.g. the store locked too long: the next day tries again
                log.error("retention purge failed, tried again in a day: %s", exc)
                return None
            done += report
            if max(report.transfers, report.orders) == self.batch:
                return task.deferLater(self.clock, 0, batch)
            log.info("retention (%d days): %s", self.days, "; ".join(done.lines()))
            return done

        return task.deferLater(self.clock, 0, batch)
