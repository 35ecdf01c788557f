"""Many deadlines on one timer: cheaper than a timer per AGI command.

A sweep every `tick` seconds fires the deadlines that have passed, so one
fires at most `tick` late; the sweep runs only while some deadline is set.
"""

from __future__ import annotations

from typing import Callable, Hashable


class Deadlines:
    def __init__(self, call_later, now: Callable[[], float], tick: float):
        self._call_later, self._now, self.tick = call_later, now, tick
        self._due: dict[Hashable, tuple[float, Callable[[], None]]] = {}
        self._timer = None

    def set(self, key: Hashable, delay: float, expired: Callable[[], None]) -> None:
        """Call `expired()` once `delay` seconds have passed, unless cleared first."""
        self._due[key] = (self._now() + delay, expired)
        if self._timer is None:
            self._timer = self._call_later(self.tick, self._sweep)

    def clear(self, key: Hashable) -> None:
        self._due.pop(key, None)

    def _sweep(self) -> None:
        self._timer = None
        now = self._now()
        passed = [key for key, (due, _) in self._due.items() if due <= now]
        for key in passed:
            _, expired = self._due.pop(key)
            expired()
        if self._due:
            self._timer = self._call_later(self.tick, self._sweep)
