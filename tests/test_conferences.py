"""Conference state from ConfBridge events, its re-sync, and the refusals
of the conference service, with a scripted PBX (the lab proves the rest)."""

from __future__ import annotations

import pytest

from ami_probe import on_loop
from linkdesk.bridge.core.conference_service import ConferenceService
from linkdesk.bridge.core.conferences import ConferenceError, ConferenceTracker
from linkdesk.bridge.store.database import open_store
from linkdesk.bridge.core.units import UnitConfigError, unit_from_config

ROOM = "WO-0123456789ab"


def _event(name: str, channel: str = "", role: str = "", **fields) -> dict:
    event = {"Event": name, "Conference": ROOM, **fields}
    if channel:
        event.update(Channel=channel, Uniqueid=f"uid-{channel[-1]}", CallerIDNum="13800138000")
    if role:
        event["ChanVariable"] = f"LINKDESK_ROLE={role}"
    return event


CALL = [_event("ConfbridgeStart"),
        _event("ConfbridgeJoin", "PJSIP/anonymous-1", "citizen"),
        _event("ConfbridgeJoin", "PJSIP/1101-2", "110"),
        _event("ConfbridgeJoin", "Local/12345@linkdesk-conference-dial-3;1", "12345"),
        _event("ConfbridgeTalking", "PJSIP/anonymous-1", TalkingStatus="on"),
        _event("ConfbridgeMute", "PJSIP/1101-2", "110")]


def test_events_build_the_room_with_roles_talking_and_muted():
    tracker = ConferenceTracker()
    for event in CALL:
        tracker.on_event("110", event)
    [room] = tracker.list()
    people = {p["channel"]: p for p in room["participants"]}
    assert {c: p["role"] for c, p in people.items()} == {
        "PJSIP/anonymous-1": "citizen", "PJSIP/1101-2": "110", "Local/12345@linkdesk-conference-dial-3;1": "12345"}
    assert people["PJSIP/anonymous-1"]["talking"] and people["PJSIP/1101-2"]["muted"]


def test_leave_and_end_remove_what_they_name_only():
    tracker = ConferenceTracker()
    for event in CALL + [_event("ConfbridgeLeave", "PJSIP/1101-2", "110")]:
        tracker.on_event("110", event)
    assert sorted(p["role"] for p in tracker.list()[0]["participants"]) == ["12345", "citizen"]
    tracker.on_event("12345", _event("ConfbridgeEnd"))   # another PBX's room of that name
    assert len(tracker.list()) == 1
    tracker.on_event("110", _event("ConfbridgeEnd"))
    assert tracker.list() == []


class Listing:
    def __init__(self, rooms):
        self.rooms = rooms

    async def conference_listing(self):
        return self.rooms


@on_loop
async def test_resync_replaces_the_pbx_rooms_with_asterisks_list_and_keeps_join_times():
    tracker = ConferenceTracker()
    for event in CALL:
        tracker.on_event("110", event)
    joined = tracker.rooms[("110", ROOM)].participants["PJSIP/anonymous-1"].joined_at
    tracker.on_event("12345", {**_event("ConfbridgeJoin", "PJSIP/2101-9", "12345"), "Conference": "other"})
    listed = [{**_event("ConfbridgeList", "PJSIP/anonymous-1", "citizen")},
              {**_event("ConfbridgeList", "PJSIP/1101-2", "110"), "Muted": "Yes"}]
    await tracker.resync("110", Listing({ROOM: listed}))
    room = tracker.rooms[("110", ROOM)]
    assert sorted(room.participants) == ["PJSIP/1101-2", "PJSIP/anonymous-1"]
    assert room.participants["PJSIP/anonymous-1"].joined_at == joined
    assert room.participants["PJSIP/1101-2"].muted
    assert ("12345", "other") in tracker.rooms, "another PBX's rooms are left alone"
    await tracker.resync("110", Listing({}))
    assert [key for key in tracker.rooms] == [("12345", "other")]


class RecordingPbx(Listing):
    def __init__(self):
        super().__init__({})
        self.kicked = []

    async def kick(self, room, channel):
        self.kicked.append((room, channel))


def _service(store_at):
    store = open_store(store_at("c.db"))
    with store.orders.transaction():
        store.orders.insert({"id": ROOM, "kind": "work", "from_platform": "110", "to_platform": "12345",
                             "caller_number": "13800138000", "caller_withheld": 0, "transfer_id": "tr-1",
                             "state": "created", "created_at": 0})
    pbx = RecordingPbx()
    service = ConferenceService(store.conferences, store.orders, {"110": pbx}, units={})
    for event in CALL:
        service.on_event("110", event)
    return service, pbx


@on_loop
async def test_a_platform_sees_only_the_conferences_of_its_orders(store_at):
    service, _ = _service(store_at)
    assert [c["id"] for c in service.list("12345")] == [ROOM]
    assert service.list("119") == []
    with pytest.raises(ConferenceError) as err:
        service.show("119", ROOM)
    assert err.value.reason == "conference-not-found"


@on_loop
async def test_refusals_name_their_reason_and_send_nothing(store_at):
    service, pbx = _service(store_at)
    for call, reason in [(service.kick("110", ROOM, "uid-x"), "conference-participant-unknown"),
                         (service.leave("119", ROOM), "conference-not-found")]:
        with pytest.raises(ConferenceError) as err:
            await call
        assert err.value.reason == reason
    with pytest.raises(ConferenceError) as err:
        await service.add_unit("110", ROOM, "gas")
    assert err.value.reason == "unit-not-found"
    assert pbx.kicked == []
    service.on_event("110", _event("ConfbridgeEnd"))
    with pytest.raises(ConferenceError) as err:
        await service.mute("110", ROOM, "uid-1", True)
    assert err.value.reason == "conference-ended"


@on_loop
async def test_leave_takes_out_the_platforms_operator_and_the_timeline_says_so(store_at):
    service, pbx = _service(store_at)
    assert await service.leave("12345", ROOM) == ["Local/12345@linkdesk-conference-dial-3;1"]
    assert pbx.kicked == [(ROOM, "Local/12345@linkdesk-conference-dial-3;1")]
    service.on_event("110", _event("ConfbridgeLeave", "Local/12345@linkdesk-conference-dial-3;1"))
    timeline = [(e["what"], e["role"]) for e in service.show("110", ROOM)["timeline"]]
    assert timeline == [("started", None), ("joined", "citizen"), ("joined", "110"), ("joined", "12345"),
                        ("muted", "110"), ("left", "12345")]


@pytest.mark.parametrize("table, message", [
    ({"name": "Gas", "number": "1901&PJSIP/evil"}, "number"),
    ({"name": "Gas", "number": "1901", "trunk": "to-gas,30,D(1)"}, "trunk"),
    ({"name": "Gas\r\nX", "number": "1901"}, "name"),
    ({"name": "Gas", "number": "1901", "colour": "red"}, "unknown setting"),
])
def test_a_unit_that_could_smuggle_dial_options_is_refused(table, message):
    with pytest.raises(UnitConfigError, match=message):
        unit_from_config("gas", table)
    assert unit_from_config("gas", {"name": "Gas", "number": "1901", "trunk": "to-gas"}).dial == "PJSIP/1901@to-gas"
