"""The live event log behind the screen pop (`GET /v1/events`): what happens
to transfers, orders and rooms, each event numbered, kept for a while so that
a client reconnecting with the last id it saw misses nothing, and handed to
every live subscriber as it happens. Each event names the platforms that may
see it. This module imports neither Twisted, panoramisk nor SQLite."""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

KEPT = 1000


@dataclass(frozen=True)
class Event:
    id: int
    kind: str                    # transfer.ringing, transfer.answered, order.created, conference.joined, …
    platforms: frozenset[str]    # who may see it
    data: dict = field(default_factory=dict)
    at: float = 0.0

    def visible_to(self, platform: str, extension: str = "") -> bool:
        """Whether `platform` sees it (and, filtered by an operator's extension,
        whether it is that extension's: events that name no extension are everyone's)."""
        return platform in self.platforms and (not extension or self.data.get("extension", extension) == extension)


class EventLog:
    """The last `kept` events, and the subscribers that hear each new one."""

    def __init__(self, kept: int = KEPT, clock: Callable[[], float] = time.time):
        self._events: deque[Event] = deque(maxlen=kept)
        self._ids = itertools.count(1)
        self._subscribers: list[Callable[[Event], None]] = []
        self._clock = clock

    def publish(self, kind: str, platforms, data: dict) -> Event:
        event = Event(next(self._ids), kind, frozenset(p for p in platforms if p), dict(data), self._clock())
        self._events.append(event)
        for subscriber in list(self._subscribers):
            subscriber(event)
        return event

    def since(self, last_id: int | None) -> tuple[list[Event], bool]:
        """The kept events after `last_id` (all of them for None), and whether
        some after it are no longer kept (the client missed those)."""
        events = list(self._events)
        if last_id is None:
            return events, False
        missed = bool(events) and last_id < events[0].id - 1
        return [event for event in events if event.id > last_id], missed

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        """Hear every new event; returns the function that stops it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber) if subscriber in self._subscribers else None
