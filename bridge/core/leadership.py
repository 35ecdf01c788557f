"""Which of several linkdesk instances on one shared store acts: the one
holding the store's leader lease.

Every instance serves FastAGI and HTTP (a request is carried out where it
arrives) and keeps its view of the PBXs current; only the leader acts on what
the PBXs report (a transfer's outcome, a conference's changes), runs the
outbox and sweeps what a dead instance left half done. A lease is a row
with a deadline on the store's clock, renewed every `renew` seconds; an
instance that stops renewing (killed, paused, cut off from the store) loses
it once the deadline passes, and another takes it over with a higher epoch.

The lease, not a session advisory lock: a paused process keeps its
connection, so an advisory lock would keep it leader for as long as TCP
keeps the connection up, and the other instance could never take over.

Fencing: an instance counts itself leader only until its own deadline,
taken on its monotonic clock from the moment it *sent* the renewal that
succeeded, less a margin: a shorter span than the store grants, so a paused
or partitioned instance stops acting before anyone else may start. The
outbox's claims are fenced in the store as well (OrderStore.claim).

This module imports neither Twisted, panoramisk nor a database driver."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

log = logging.getLogger("linkdesk.leadership")
LEASE_NAME = "linkdesk"


class LeaseStore(Protocol):
    """The lease row, on the store's own clock."""

    def acquire(self, name: str, holder: str, seconds: float) -> int | None:
        """Take the lease if it is free or has lapsed (or renew it if `holder`
        holds it): its epoch if `holder` now holds it, else None."""

    def renew(self, name: str, holder: str, epoch: int, seconds: float) -> bool:
        """Extend `holder`'s lease of `epoch`; False if it is no longer theirs."""

    def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (a clean stop), if `holder` holds it."""

    def holder(self, name: str) -> dict | None:
        """The lease's row (holder, epoch, expires_at), or None."""


@dataclass(frozen=True)
class LeaseTiming:
    seconds: float = 5.0     # how long a renewal holds the lease on the store
    renew: float = 1.0       # how often the holder renews, and a standby tries
    margin: float = 1.0      # acted on for seconds - margin after a renewal was sent


def instance_name() -> str:
    """This process's holder name: host, pid and a random part (a restarted
    process on the same host and pid is another holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """`acting()`: whether this instance may act now. `on_gained` callbacks run
    (awaited, in order) each time it becomes leader; `on_tick` ones on every
    round while it leads."""

    def __init__(self, store: LeaseStore, timing: LeaseTiming = LeaseTiming(), holder: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.store, self.timing, self.clock = store, timing, clock
        self.holder = holder or instance_name()
        self.epoch: int | None = None
        self._until = float("-inf")
        self.on_gained: list[Callable[[], Awaitable[None]]] = []
        self.on_tick: list[Callable[[], None]] = []
        self._task: asyncio.Task | None = None

    def acting(self) -> bool:
        """Leader, and sure of it: within the fenced span of the last renewal."""
        return self.epoch is not None and self.clock() < self._until

    def role(self) -> dict:
        """What /readyz shows: leader or standby, this holder, and the epoch it leads in."""
        if self.acting():
            return {"role": "leader", "holder": self.holder, "epoch": self.epoch}
        return {"role": "standby", "holder": self.holder}

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        """Stop renewing and give the lease up, so that a standby takes over at once."""
        if self._task is not None:
            self._task.cancel()
        if self.epoch is not None:
            self.epoch, self._until = None, float("-inf")
            try:
                self.store.release(LEASE_NAME, self.holder)
            except Exception as exc:   # the store is gone: the lease lapses on its own
                log.warning("could not release the leader lease (%s); it lapses in %g s", exc, self.timing.seconds)

    async def _run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.timing.renew)

    async def step(self) -> None:
        """One round: renew (or try to take) the lease; on gaining it, run on_gained; then on_tick."""
        sent = self.clock()
        was = self.epoch
        try:
            self.epoch = self._renewed() if was is not None else self._taken()
        except Exception as exc:
            # Cut off from the store: act no longer than the last renewal allows.
            log.warning("leader lease: the store did not answer (%s)", exc)
            return
        if self.epoch is None:
            self._until = float("-inf")
            if was is not None:
                log.warning("leader lease lost (epoch %d): another instance acts now", was)
            return
        self._until = sent + self.timing.seconds - self.timing.margin
        if was is None:
            log.info("leader lease taken (epoch %d, holder %s): this instance acts", self.epoch, self.holder)
            for gained in self.on_gained:
                await self._guarded(gained)
        for tick in self.on_tick:
            try:
                tick()
            except Exception:
                log.exception("a leader's round failed; trying again next round")

    def _renewed(self) -> int | None:
        return self.epoch if self.store.renew(LEASE_NAME, self.holder, self.epoch, self.timing.seconds) else None

    def _taken(self) -> int | None:
        return self.store.acquire(LEASE_NAME, self.holder, self.timing.seconds)

    @staticmethod
    async def _guarded(gained: Callable[[], Awaitable[None]]) -> None:
        try:
            await gained()
        except Exception:
            log.exception("taking over as leader: a step failed; the others go on")


def only_when_acting(leadership: Leadership, handler):
    """`handler`, called only while `leadership` acts (an AMI event's handler;
    coroutine functions stay coroutine functions)."""
    if inspect.iscoroutinefunction(handler):
        async def guarded(*args):
            if leadership.acting():
                await handler(*args)
    else:
        def guarded(*args):
            if leadership.acting():
                return handler(*args)
    return guarded
