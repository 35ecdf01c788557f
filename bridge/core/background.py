"""The one owner of the tasks a service starts and does not await (a
receiver being called, a room dissolved, a rejected call brought back).

A failure of such a task is never lost: it is logged with its stable id and
handed to the `on_failure` given with the task, which records it where the
user looks (the transfer's or the conference's timeline)."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Callable, Coroutine

from linkdesk.bridge.core.errors import INTERNAL, LinkdeskError

log = logging.getLogger("linkdesk.background")

OnFailure = Callable[[str, str], None]   # (reason id, message)


class BackgroundTasks:
    def __init__(self) -> None:
        self._running: set[asyncio.Task] = set()
        self.failures = 0

    def start(self, coroutine: Coroutine, what: str, on_failure: OnFailure) -> asyncio.Task:
        """Run `coroutine` on the loop, keeping it referenced until it ends;
        `what` names it in the log."""
        task = asyncio.ensure_future(coroutine)
        self._running.add(task)
        task.add_done_callback(partial(self._ended, what, on_failure))
        return task

    def __len__(self) -> int:
        return len(self._running)

    async def settle(self) -> None:
        """Wait until every task started so far (and any they start) has ended."""
        while self._running:
            await asyncio.wait(set(self._running))

    def _ended(self, what: str, on_failure: OnFailure, task: asyncio.Task) -> None:
        self._running.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        reason = error.reason if isinstance(error, LinkdeskError) else INTERNAL
        self.failures += 1
        log.error("%s failed: %s (%s)", what, reason, error, exc_info=reason == INTERNAL and error)
        try:
            on_failure(reason, str(error))
        except Exception:
            log.exception("%s: its failure could not be recorded", what)
