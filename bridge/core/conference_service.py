"""Three-way conferences as the platforms see and steer them.

A conference's id is its order's shared id; a platform sees the conferences
of the orders it sent or received, and no others (404, as for an unknown
id). Participants come from the ConferenceTracker; every join, leave, mute
and unmute is also kept in the store as the conference's timeline.

This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

from linkdesk.bridge.core.background import BackgroundTasks
from linkdesk.bridge.core.conferences import ConferenceError, ConferenceTracker, Participant, Room
from linkdesk.bridge.core.errors import failure_on_pbx
from linkdesk.bridge.core.ids import new_id
from linkdesk.bridge.core.ports import ConferenceStore, OrderStore, PbxControl
from linkdesk.bridge.core.units import LinkageUnit
from linkdesk.dialplan.contract import ANSWER_TIMEOUT, CALLER, CONFERENCE, DIAL, ORDER_ID, ROLE, UNIT_DIAL, inherited

# ConfBridge event → timeline entry
_TIMELINE = {"ConfbridgeStart": "started", "ConfbridgeJoin": "joined", "ConfbridgeLeave": "left",
             "ConfbridgeMute": "muted", "ConfbridgeUnmute": "unmuted", "ConfbridgeEnd": "ended"}


UNIT_ANSWER_TIMEOUT = 30
# How long a unit's call-out is watched before its 202: a call the PBX refuses
# fails within milliseconds; one that rings is still under way by then.
CALL_OUT_GRACE = 1.0


class ConferenceService:
    def __init__(self, store: ConferenceStore, orders: OrderStore, controls: dict[str, PbxControl],
                 units: dict[str, LinkageUnit] | None = None, tracker: ConferenceTracker | None = None,
                 listeners=(), tasks: BackgroundTasks | None = None, call_out_grace: float = CALL_OUT_GRACE,
                 room_listeners=(), acting=lambda: True):
        self.store, self.orders, self.controls, self.units = store, orders, controls, units or {}
        self.tracker = tracker or ConferenceTracker()
        self.tasks = tasks or BackgroundTasks()
        self.call_out_grace = call_out_grace
        # callback(pbx, rooms running on it, seconds the room lasted if it just ended) (metrics)
        self.listeners = tuple(listeners)
        # callback(conference id, pbx, what, role) for each stored room event (the screen pop)
        self.room_listeners = tuple(room_listeners)
        # Whether this instance writes the timeline (the leader: core/leadership.py); every instance tracks.
        self.acting = acting

    def on_event(self, pbx: str, event: dict) -> None:
        """A Confbridge* event from PBX `pbx`: the live state, and the timeline."""
        before = self.tracker.rooms.get((pbx, event.get("Conference", "")))
        known = before.participants.get(event.get("Channel", "")) if before else None
        self.tracker.on_event(pbx, event)
        if event.get("Event") in ("ConfbridgeStart", "ConfbridgeEnd"):
            self._tell(pbx, before if event["Event"] == "ConfbridgeEnd" else None)
        what = _TIMELINE.get(event.get("Event", ""))
        if what is None or not event.get("Conference"):
            return
        after = self.tracker.rooms.get((pbx, event["Conference"]))
        participant = (after.participants.get(event.get("Channel", "")) if after else None) or known
        role = participant.role if participant else None
        if self.acting():
            self.store.conference_event(event["Conference"], pbx, what, event.get("Channel") or None, role)
        for listener in self.room_listeners:
            listener(event["Conference"], pbx, what, role)

    async def resync(self, pbx: str) -> None:
        await self.tracker.resync(pbx, self.controls[pbx])
        self._tell(pbx, None)

    def _tell(self, pbx: str, ended: Room | None) -> None:
        active = sum(1 for owner, _ in self.tracker.rooms if owner == pbx)
        lasted = time.time() - ended.started_at if ended is not None else None
        for listener in self.listeners:
            listener(pbx, active, lasted)

    def list(self, platform: str) -> list[dict]:
        return [room for room in self.tracker.list() if self._visible(platform, room["id"])]

    def show(self, platform: str, conference_id: str) -> dict:
        room = self._room(platform, conference_id)
        return {**room.public(), "timeline": self.store.conference_timeline(conference_id)}

    async def kick(self, platform: str, conference_id: str, uniqueid: str) -> None:
        room = self._room(platform, conference_id)
        await _on_pbx(self.controls[room.pbx].kick(room.id, self._participant(room, uniqueid).channel))

    async def mute(self, platform: str, conference_id: str, uniqueid: str, muted: bool) -> None:
        room = self._room(platform, conference_id)
        await _on_pbx(self.controls[room.pbx].mute(room.id, self._participant(room, uniqueid).channel, muted))

    async def leave(self, platform: str, conference_id: str) -> list[str]:
        """The platform's operator(s) leave the room; the others stay. The channels taken out."""
        room = self._room(platform, conference_id)
        mine = [p for p in room.participants.values() if p.role == platform]
        if not mine:
            raise ConferenceError("conference-not-a-participant", f"no operator of {platform} is in this conference")
        for participant in mine:
            await _on_pbx(self.controls[room.pbx].kick(room.id, participant.channel))
        return [p.channel for p in mine]

    async def add_unit(self, platform: str, conference_id: str, unit_id: str) -> dict:
        """Call linkage unit `unit_id` into the conference as the citizen; it
        joins when it answers. The call's id (its uniqueid once it joins).
        A call-out that fails at once is refused here (and on the timeline);
        one that fails later is on the timeline."""
        unit = self.units.get(unit_id)
        if unit is None:
            raise ConferenceError("unit-not-found", f"no linkage unit {unit_id!r} in the directory")
        room = self._room(platform, conference_id)
        order = self.orders.get(conference_id) or {}
        number = order.get("caller_number", "")
        shown = "anonymous" if order.get("caller_withheld") or not number else number
        call_id = new_id(f"{unit.id}-call")
        variables = {inherited(ORDER_ID): room.id, inherited(CALLER): number, ROLE: unit.id,
                     CONFERENCE: room.id, "_" + DIAL: unit.dial,
                     "_" + ANSWER_TIMEOUT: str(UNIT_ANSWER_TIMEOUT)}
        call = self._call_out(room, unit, call_id, f'"{shown}" <{shown}>', variables)
        task = self.tasks.start(call, f"conference {room.id}: calling unit {unit.id}",
                                partial(self._call_failed, room, unit))
        await asyncio.wait({task}, timeout=self.call_out_grace)
        if task.done() and task.exception() is not None:
            error = task.exception()
            raise ConferenceError(failure_on_pbx(error, "conference-action-failed"),
                                  f"calling {unit.id} failed: {error}")
        return {"call": call_id, "unit": unit.public()}

    async def _call_out(self, room: Room, unit: LinkageUnit, call_id: str, caller: str,
                        variables: dict[str, str]) -> None:
        """The unit's call; a call that never answers fails with conference-action-failed."""
        channel, status = await self.controls[room.pbx].call_into_room(
            "s", room.id, caller, variables, UNIT_ANSWER_TIMEOUT, channel_id=call_id, via=UNIT_DIAL)
        if not channel:
            raise ConferenceError("conference-action-failed", f"the unit did not answer ({status})")

    def _call_failed(self, room: Room, unit: LinkageUnit, reason: str, message: str) -> None:
        self.store.conference_event(room.id, room.pbx, "call-failed", role=unit.id, detail=f"{reason}: {message}")

    def _room(self, platform: str, conference_id: str) -> Room:
        if not self._visible(platform, conference_id):
            raise ConferenceError("conference-not-found", f"no conference {conference_id!r}")
        for (pbx, room_id), room in self.tracker.rooms.items():
            if room_id == conference_id:
                return room
        if self.store.conference(conference_id):
            raise ConferenceError("conference-ended", f"conference {conference_id} has ended")
        raise ConferenceError("conference-not-found", f"no conference {conference_id!r}")

    def _visible(self, platform: str, conference_id: str) -> bool:
        order = self.orders.get(conference_id)
        return order is not None and platform in (order["from_platform"], order["to_platform"])

    @staticmethod
    def _participant(room: Room, uniqueid: str) -> Participant:
        for participant in room.participants.values():
            if participant.uniqueid == uniqueid:
                return participant
        raise ConferenceError("conference-participant-unknown", f"no participant {uniqueid!r} in {room.id}")


async def _on_pbx(action) -> None:
    """A ConfBridge action; the PBX's refusal as conference-action-failed."""
    try:
        await action
    except Exception as exc:
        raise ConferenceError(failure_on_pbx(exc, "conference-action-failed"), f"the PBX refused: {exc}") from exc
