"""Events to subscribers, by name or glob pattern, in arrival order.

A plain callback runs at once; an async one gets its own queue and worker, so
its events are handled one after another in the order they arrived. A
failing subscriber is logged and never stops the intake.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
import re
from typing import Callable

log = logging.getLogger("linkdesk.ami")


class EventBus:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._by_name: dict[str, list[Callable]] = {}
        self._patterns: list[tuple[re.Pattern | None, Callable]] = []
        self._workers: list[asyncio.Task] = []

    def subscribe(self, pattern: str, callback: Callable) -> None:
        """`callback(event)` for each event named `pattern` (a glob: `Queue*`, `*`)."""
        target = self._ordered(callback) if inspect.iscoroutinefunction(callback) else callback
        if not any(char in pattern for char in "*?["):
            self._by_name.setdefault(pattern, []).append(target)
        elif pattern == "*":
            self._patterns.append((None, target))
        else:
            self._patterns.append((re.compile(fnmatch.translate(pattern)), target))

    def publish(self, event) -> None:
        name = event.get("Event", "")
        for callback in self._by_name.get(name, ()):
            self._call(callback, event)
        for regexp, callback in self._patterns:
            if regexp is None or regexp.match(name):
                self._call(callback, event)

    def close(self) -> None:
        for worker in self._workers:
            worker.cancel()

    @staticmethod
    def _call(callback: Callable, event) -> None:
        try:
            callback(event)
        except Exception:
            log.exception("AMI event subscriber failed on %s", event.get("Event"))

    def _ordered(self, coroutine_function: Callable) -> Callable:
        queue: asyncio.Queue = asyncio.Queue()

        async def work() -> None:
            while True:
                event = await queue.get()
                try:
                    await coroutine_function(event)
                except Exception:
                    log.exception("AMI event subscriber failed on %s", event.get("Event"))

        self._workers.append(self._loop.create_task(work()))
        return queue.put_nowait
