"""Which AMI event goes to which service, in this one file; and what each
service re-syncs after every AMI login."""

from __future__ import annotations

from functools import partial

from linkdesk.bridge.core.conference_service import ConferenceService
from linkdesk.bridge.core.leadership import Leadership, only_when_acting
from linkdesk.bridge.core.ports import TransferStore
from linkdesk.bridge.core.transfers import TransferService
from linkdesk.dialplan.contract import (ATTENDED_TRANSFER_EVENT, ORDER_ID, TRANSFER_EVENT, WHISPER_EVENT,
                                        channel_variables)
from linkdesk.metrics.linkage import LinkageMetrics
from linkdesk.metrics.queues import CHANNEL_EVENTS, QueueBook
from linkdesk.metrics.wiring import resync_queues

RUNG_MEMORY = 10_000


def connect_intake(connections: dict, transfers: TransferService, conferences: ConferenceService,
                   book: QueueBook, linkage: LinkageMetrics, leadership: Leadership, on_ringing=None) -> None:
    """Subscribe the services and the metrics to each PBX's events, and their
    re-syncs to its logins; `on_ringing(transfer, event)` (the screen pop)
    hears each AgentCalled of a handed-over citizen.

    Every instance keeps its views current (queues, rooms, the screen pop);
    what settles a transfer runs only on the acting leader
    (core/leadership.py), which on taking over settles what it missed."""
    ringing = ReceiverRinging(transfers.store, linkage, on_ringing, acting=leadership.acting)
    for name, connection in connections.items():
        connection.subscribe("UserEvent", only_when_acting(leadership, partial(_dialplan_event, transfers, name)))
        # A phone's attended transfer (REFER with Replaces); heard at once, before any queued UserEvent.
        connection.subscribe(ATTENDED_TRANSFER_EVENT,
                             only_when_acting(leadership, partial(transfers.attended.on_attended_transfer, name)))
        connection.subscribe("Confbridge*", partial(conferences.on_event, name))
        for pattern in ("Queue*", "Agent*", *CHANNEL_EVENTS):
            connection.subscribe(pattern, partial(book.on_event, name))
        connection.subscribe("AgentCalled", ringing.on_agent_called)
        connection.on_login(only_when_acting(leadership, partial(_resync_transfers, transfers, name)))
        connection.on_login(partial(_resync_conferences, conferences, name))
        connection.on_login(partial(resync_queues, book, name))
    leadership.on_gained.append(partial(_take_over, connections, transfers))
    leadership.on_tick.append(transfers.fail_stale_requests)


async def _dialplan_event(transfers: TransferService, pbx: str, event) -> None:
    if event.get("UserEvent") == TRANSFER_EVENT:
        await transfers.on_dialplan_event(pbx, event)
    elif event.get("UserEvent") == WHISPER_EVENT:
        transfers.on_whisper(pbx, event)


async def _resync_transfers(transfers: TransferService, pbx: str, _connection) -> None:
    await transfers.resync(pbx)


async def _resync_conferences(conferences: ConferenceService, pbx: str, _connection) -> None:
    await conferences.resync(pbx)


async def _take_over(connections: dict, transfers: TransferService) -> None:
    """This instance became the leader: settle what each PBX it is logged in to
    carried while no leader watched (one still logging in is settled at its login)."""
    for name, connection in connections.items():
        if connection.logged_in:
            await transfers.resync(name)


class ReceiverRinging:
    """An AgentCalled for a transferred citizen (its order id rides along as a
    channel variable): a receiver's phone rings. Each is told to `on_ringing`;
    the first of a transfer is its set-up time for the metrics."""

    def __init__(self, store: TransferStore, linkage: LinkageMetrics, on_ringing=None, acting=lambda: True):
        """`acting()`: whether this instance counts the set-up time (the
        leader: every instance hears the ringing, one counts it)."""
        self.store, self.linkage, self.on_ringing, self.acting = store, linkage, on_ringing, acting
        self._rung: set[str] = set()

    def on_agent_called(self, event) -> None:
        order_id = channel_variables(event).get(ORDER_ID, "")
        if len(self._rung) > RUNG_MEMORY:
            self._rung.clear()    # a memory, not a record: old orders stop ringing long before
        first = order_id not in self._rung
        if not order_id or not (first or self.on_ringing):
            return
        transfer = self.store.transfer_for_order(order_id)
        if transfer is None:
            return
        if first:
            self._rung.add(order_id)
            if self.acting():
                self.linkage.receiver_ringing(transfer, float(event.get("Timestamp") or 0))
        if self.on_ringing is not None:
            self.on_ringing(transfer, event)
