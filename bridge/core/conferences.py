"""Who is in which three-way conference, as Asterisk's ConfBridge says.

State comes from ConfbridgeStart/End/Join/Leave/Talking/Mute/Unmute events,
and after every AMI login it is replaced by what ConfbridgeListRooms and
ConfbridgeList report, so that events missed while the link was down leave
nothing wrong behind. A participant's role (citizen, 110, 12345, or a
linkage unit) is the channel's LINKDESK_ROLE, which the PBX's manager.conf
(`channelvars`) adds to every channel event.

This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from linkdesk.bridge.core.errors import LinkdeskError
from linkdesk.dialplan.contract import ROLE, channel_variables


class ConferenceError(LinkdeskError):
    """A refused conference request."""


@dataclass
class Participant:
    uniqueid: str
    channel: str
    role: str
    caller_number: str
    muted: bool = False
    talking: bool = False
    joined_at: float = field(default_factory=time.time)


@dataclass
class Room:
    id: str
    pbx: str
    started_at: float = field(default_factory=time.time)
    participants: dict[str, Participant] = field(default_factory=dict)

    def public(self) -> dict:
        return {"id": self.id, "pbx": self.pbx, "started_at": self.started_at,
                "participants": [asdict(p) for p in self.participants.values()]}


class ConferenceTracker:
    """Rooms by PBX and id; fed by events, replaced by listings after a login."""

    def __init__(self) -> None:
        self.rooms: dict[tuple[str, str], Room] = {}

    def on_event(self, pbx: str, event: dict) -> None:
        name, conference = event.get("Event", ""), event.get("Conference", "")
        if not conference:
            return
        key = (pbx, conference)
        if name == "ConfbridgeStart":
            self.rooms.setdefault(key, Room(conference, pbx))
        elif name == "ConfbridgeEnd":
            self.rooms.pop(key, None)
        elif name == "ConfbridgeJoin":
            room = self.rooms.setdefault(key, Room(conference, pbx))
            room.participants[event.get("Channel", "")] = _participant(event)
        elif name == "ConfbridgeLeave" and key in self.rooms:
            self.rooms[key].participants.pop(event.get("Channel", ""), None)
        elif name in ("ConfbridgeTalking", "ConfbridgeMute", "ConfbridgeUnmute") and key in self.rooms:
            self._flag(self.rooms[key], name, event)

    async def resync(self, pbx: str, source) -> None:
        """Replace this PBX's rooms with what Asterisk lists now (`source.conference_listing()`, a PbxControl's)."""
        listing = await source.conference_listing()
        kept = {key: room for key, room in self.rooms.items() if key[0] != pbx}
        for conference, entries in listing.items():
            before = self.rooms.get((pbx, conference))
            room = Room(conference, pbx, started_at=before.started_at if before else time.time())
            for entry in entries:
                participant = _participant(entry)
                known = before.participants.get(participant.channel) if before else None
                if known is not None:
                    participant.joined_at = known.joined_at
                room.participants[participant.channel] = participant
            kept[(pbx, conference)] = room
        self.rooms = kept

    def list(self, pbx: str | None = None) -> list[dict]:
        return [room.public() for (owner, _), room in sorted(self.rooms.items()) if pbx in (None, owner)]

    @staticmethod
    def _flag(room: Room, name: str, event: dict) -> None:
        participant = room.participants.get(event.get("Channel", ""))
        if participant is None:
            return
        if name == "ConfbridgeTalking":
            participant.talking = event.get("TalkingStatus", "").lower() == "on"
        else:
            participant.muted = name == "ConfbridgeMute"


def _participant(event: dict) -> Participant:
    """From a ConfbridgeJoin or ConfbridgeList event."""
    return Participant(uniqueid=event.get("Uniqueid", ""), channel=event.get("Channel", ""),
                       role=_role(event) or "other",
                       caller_number=event.get("CallerIDNum", ""),
                       muted=event.get("Muted", "").lower() == "yes")


def _role(event: dict) -> str:
    return channel_variables(event).get(ROLE, "")

