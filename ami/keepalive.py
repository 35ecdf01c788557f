"""Timing of the AMI link, on an injected clock: reconnect backoff and a
keep-alive that waits for the Ping's reply, so a half-open link is noticed.

`call_later(delay, fn)` may be the asyncio loop's or a Twisted `task.Clock`'s
`callLater`; only `cancel()` is used on what it returns.
"""

from __future__ import annotations

import random as _random
from typing import Any, Callable

CallLater = Callable[[float, Callable[[], None]], Any]


class Backoff:
    """Capped exponential delays: initial, 2×, 4×, … up to `cap`; reset after a login.

    With `jitter` j each delay is drawn from [(1 - j) × step, step], so that
    many linkdesk hosts refused by one PBX do not all come back in step;
    `random()` (0 ≤ x < 1) is injected for tests."""

    def __init__(self, initial: float, cap: float, factor: float = 2.0, jitter: float = 0.0,
                 random: Callable[[], float] = _random.random):
        self.initial, self.cap, self.factor, self.jitter = initial, cap, factor, jitter
        self._random = random
        self._next = initial

    def next_delay(self) -> float:
        step = self._next
        self._next = min(self._next * self.factor, self.cap)
        return step * (1.0 - self.jitter * self._random())

    def reset(self) -> None:
        self._next = self.initial


class KeepAlive:
    """Every `interval` s send a ping; no good reply within `timeout` s → `on_dead()`."""

    def __init__(self, call_later: CallLater, interval: float, timeout: float,
                 send_ping: Callable[[Callable[[bool], None]], None], on_dead: Callable[[], None]):
        self._call_later = call_later
        self.interval, self.timeout = interval, timeout
        self._send_ping, self._on_dead = send_ping, on_dead
        self._timer = None
        self._generation = 0

    def start(self) -> None:
        self.stop()
        self._timer = self._call_later(self.interval, self._ping)

    def stop(self) -> None:
        # A reply to a ping sent before stop() must not restart the cycle.
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _ping(self) -> None:
        generation = self._generation
        self._timer = self._call_later(self.timeout, self._no_reply)
        self._send_ping(lambda ok: self._reply(generation, ok))

    def _reply(self, generation: int, ok: bool) -> None:
        if generation != self._generation:
            return
        if ok:
            self.start()
        else:
            self._timer.cancel()
            self._no_reply()

    def _no_reply(self) -> None:
        self._timer = None  # it is the timer that fired, or already cancelled
        self.stop()
        self._on_dead()
