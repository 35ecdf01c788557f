"""The leader lease: one holder at a time on a shared store (SQLite and
PostgreSQL), taken over once it lapses, given up on a clean stop; and the
fencing an instance applies to itself (it stops acting before the store
lets another start)."""

from __future__ import annotations

import asyncio

import pytest

from ami_probe import on_loop
from linkdesk.bridge.core.leadership import LEASE_NAME, Leadership, LeaseTiming, only_when_acting
from linkdesk.bridge.store.database import open_store
from linkdesk.bridge.store.leases import LeaseStore


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _two_instances(where) -> tuple[LeaseStore, LeaseStore]:
    return LeaseStore(open_store(where).db), LeaseStore(open_store(where).db)


def test_only_one_instance_takes_a_free_lease(store_at):
    first, second = _two_instances(store_at())
    assert first.acquire(LEASE_NAME, "a", 5) == 1
    assert second.acquire(LEASE_NAME, "b", 5) is None
    assert second.holder(LEASE_NAME)["holder"] == "a"


def test_the_holder_renews_and_an_outsider_cannot(store_at):
    first, second = _two_instances(store_at())
    epoch = first.acquire(LEASE_NAME, "a", 5)
    assert first.renew(LEASE_NAME, "a", epoch, 5)
    assert not second.renew(LEASE_NAME, "b", epoch, 5)
    assert not second.renew(LEASE_NAME, "a", epoch + 1, 5), "a stale epoch renews nothing"


def test_a_lapsed_lease_is_taken_over_with_a_higher_epoch_and_the_old_holder_cannot_renew(store_at):
    first, second = _two_instances(store_at())
    old = first.acquire(LEASE_NAME, "a", 0.001)
    while second.acquire(LEASE_NAME, "b", 5) is None:
        pass    # the lease runs on the store's clock: a millisecond
    assert second.holder(LEASE_NAME) | {"expires_at": None} == {"holder": "b", "epoch": old + 1, "expires_at": None}
    assert not first.renew(LEASE_NAME, "a", old, 5)


def test_a_released_lease_is_free_at_once(store_at):
    first, second = _two_instances(store_at())
    first.acquire(LEASE_NAME, "a", 60)
    first.release(LEASE_NAME, "a")
    assert second.acquire(LEASE_NAME, "b", 60) == 2


@on_loop
async def test_an_instance_acts_from_taking_the_lease_and_runs_its_takeover_once(store_at):
    clock, gained = Clock(), []
    leader = Leadership(LeaseStore(open_store(store_at()).db), LeaseTiming(5, 1, 1), "a", clock)

    async def takeover():
        gained.append(clock.now)
    leader.on_gained.append(takeover)
    assert not leader.acting()
    await leader.step()
    await leader.step()
    assert leader.acting() and gained == [1000.0]


@on_loop
async def test_an_instance_stops_acting_before_its_lease_lapses_on_the_store_when_it_cannot_renew(store_at):
    clock = Clock()
    leader = Leadership(LeaseStore(open_store(store_at()).db), LeaseTiming(5, 1, 1), "a", clock)
    await leader.step()
    leader.store = Unreachable()
    clock.now += 3.9
    await leader.step()
    assert leader.acting(), "within seconds - margin of the last renewal that succeeded"
    clock.now += 0.2
    assert not leader.acting(), "4 s after the renewal was sent: a second before the store lets another take it"


@on_loop
async def test_a_paused_leader_finds_the_lease_taken_and_stops(store_at):
    """SIGSTOP in miniature: the leader misses its renewals, the other takes
    over, and on waking the first neither acts nor takes it back."""
    where, clock = store_at(), Clock()
    first = Leadership(LeaseStore(open_store(where).db), LeaseTiming(0.2, 0.05, 0.05), "a", clock)
    second = Leadership(LeaseStore(open_store(where).db), LeaseTiming(5, 1, 1), "b", Clock())
    await first.step()
    while second.epoch is None:
        await second.step()
    clock.now += 10     # the pause, on the paused process's monotonic clock
    assert not first.acting()
    await first.step()
    assert (first.acting(), first.epoch, second.acting()) == (False, None, True)


@on_loop
async def test_stop_gives_the_lease_up_for_the_standby(store_at):
    where = store_at()
    first = Leadership(LeaseStore(open_store(where).db), LeaseTiming(60, 1, 1), "a")
    second = Leadership(LeaseStore(open_store(where).db), LeaseTiming(60, 1, 1), "b")
    await first.step()
    first.stop()
    await second.step()
    assert (first.acting(), second.acting()) == (False, True)


@pytest.mark.parametrize("acting", [True, False])
@on_loop
async def test_a_guarded_handler_runs_only_while_acting(acting):
    heard = []

    class Fixed:
        def acting(self):
            return acting

    async def handler(event):
        heard.append(event)
    guarded = only_when_acting(Fixed(), handler)
    assert asyncio.iscoroutinefunction(guarded), "the AMI dispatcher orders coroutine handlers"
    await guarded("e")
    only_when_acting(Fixed(), heard.append)("f")
    assert heard == (["e", "f"] if acting else [])


class Unreachable:
    def renew(self, *_):
        raise RuntimeError("connection refused")

    acquire = renew


class _Transfers:
    def transfer_for_order(self, order_id):
        return {"id": "tr-1", "order_id": order_id}


class _Linkage:
    def __init__(self):
        self.rung = []

    def receiver_ringing(self, transfer, at):
        self.rung.append((transfer["id"], at))


@pytest.mark.parametrize("acting, counted", [(True, [("tr-1", 5.0)]), (False, [])])
def test_a_receiver_ringing_is_told_to_the_screen_pop_everywhere_and_counted_only_by_the_leader(acting, counted):
    from linkdesk.bridge.app.intake import ReceiverRinging

    linkage, popped = _Linkage(), []
    ringing = ReceiverRinging(_Transfers(), linkage, lambda transfer, event: popped.append(transfer["id"]),
                              acting=lambda: acting)
    ringing.on_agent_called({"Timestamp": "5.0", "ChanVariable": "LINKDESK_ORDER_ID=WO-0123456789ab"})
    assert (popped, linkage.rung) == (["tr-1"], counted)
