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

from linkdesk.bridge.core.conferences import ConferenceError, ConferenceTracker, Participant, Room
from linkdesk.bridge.store.database import Store, new_id
from linkdesk.bridge.core.threeway import ROLE
from linkdesk.bridge.core.transfer_model import PbxControl
from linkdesk.bridge.core.units import LinkageUnit

# ConfBridge event → timeline entry
_TIMELINE = {"ConfbridgeStart": "started", "ConfbridgeJoin": "joined", "ConfbridgeLeave": "left",
             "ConfbridgeMute": "muted", "ConfbridgeUnmute": "unmuted", "ConfbridgeEnd": "ended"}


UNIT_DIAL = "linkdesk-unit-dial"
UNIT_ANSWER_TIMEOUT = 30


class ConferenceService:
    def __init__(self, store: Store, controls: dict[str, PbxControl], units: dict[str, LinkageUnit] | None = None,
                 tracker: ConferenceTracker | None = None):
        self.store, self.controls, self.units = store, controls, units or {}
        self.tracker = tracker or ConferenceTracker()
        self._calling: set[asyncio.Task] = set()
        # callback(pbx, rooms running on it, seconds the room lasted if it just ended) (metrics)
        self.listeners: list = []

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
        self.store.conference_event(event["Conference"], pbx, what, event.get("Channel") or None,
                                    participant.role if participant else None)

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
        await self.controls[room.pbx].kick(room.id, self._participant(room, uniqueid).channel)

    async def mute(self, platform: str, conference_id: str, uniqueid: str, muted: bool) -> None:
        room = self._room(platform, conference_id)
        await self.controls[room.pbx].mute(room.id, self._participant(room, uniqueid).channel, muted)

    async def leave(self, platform: str, conference_id: str) -> list[str]:
        """The platform's operator(s) leave the room; the others stay. The channels taken out."""
        room = self._room(platform, conference_id)
        mine = [p for p in room.participants.values() if p.role == platform]
        if not mine:
            raise ConferenceError("conference-not-a-participant", f"no operator of {platform} is in this conference")
        for participant in mine:
            await self.controls[room.pbx].kick(room.id, participant.channel)
        return [p.channel for p in mine]

    def add_unit(self, platform: str, conference_id: str, unit_id: str) -> dict:
        """Call linkage unit `unit_id` into the conference as the citizen; it
        joins when it answers. The call's id (its uniqueid once it joins)."""
        unit = self.units.get(unit_id)
        if unit is None:
            raise ConferenceError("unit-not-found", f"no linkage unit {unit_id!r} in the directory")
        room = self._room(platform, conference_id)
        order = self.store.order_or_none(conference_id) or {}
        number = order.get("caller_number", "")
        shown = "anonymous" if order.get("caller_withheld") or not number else number
        call_id = new_id(f"{unit.id}-call")
        variables = {"__LINKDESK_ORDER_ID": room.id, "__LINKDESK_CALLER": number, ROLE: unit.id,
                     "LINKDESK_CONFERENCE": room.id, "_LINKDESK_DIAL": unit.dial,
                     "_LINKDESK_ANSWER_TIMEOUT": str(UNIT_ANSWER_TIMEOUT)}
        call = self.controls[room.pbx].call_into_room("s", room.id, f'"{shown}" <{shown}>', variables,
                                                     UNIT_ANSWER_TIMEOUT, channel_id=call_id, via=UNIT_DIAL)
        task = asyncio.ensure_future(call)
        self._calling.add(task)
        task.add_done_callback(self._calling.discard)
        return {"call": call_id, "unit": unit.public()}

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
        order = self.store.order_or_none(conference_id)
        return order is not None and platform in (order["from_platform"], order["to_platform"])

    @staticmethod
    def _participant(room: Room, uniqueid: str) -> Participant:
        for participant in room.participants.values():
            if participant.uniqueid == uniqueid:
                return participant
        raise ConferenceError("conference-participant-unknown", f"no participant {uniqueid!r} in {room.id}")
