"""Waiting in tests: poll a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import time


async def until(predicate, timeout: float = 20.0, every: float = 0.1):
    """Poll `predicate()` until it returns something true; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(every)


def poll(predicate, timeout: float = 20.0, every: float = 0.05):
    """`until` for code off the event loop (a subprocess being watched): `predicate()`'s first
    true value within `timeout` s, else TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(every)
