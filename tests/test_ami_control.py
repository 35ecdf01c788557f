"""AmiPbxControl against the scripted AMI peer: what it writes on the wire
(the peer's received bytes) and what it makes of Asterisk's replies."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from linkdesk.ami.connection import AmiConnection, AmiEndpoint, AmiTiming
from linkdesk.ami.control import CONFERENCE_DIAL, FACTS, AmiPbxControl
from ami_probe import on_loop
from fake_ami import FakeAmi
from polling import until

try:  # the transfer vocabulary is being split up; Move lives in one of these
    from linkdesk.bridge.core.ports import Move
except ImportError:
    from linkdesk.bridge.core.transfer_model import Move

# No keep-alive ping during a test; a short action timeout, so that a test
# that goes wrong fails quickly rather than hangs.
TIMING = AmiTiming(action_timeout=3, ping_interval=600, ping_timeout=3, backoff_initial=0.25, backoff_cap=2,
                   backoff_jitter=0)



@pytest.fixture
def peer():
    return FakeAmi()


def _connection(port: int) -> AmiConnection:
    return AmiConnection(AmiEndpoint("110", "127.0.0.1", port, "linkdesk", "s3cret"),
                         asyncio.get_running_loop(), TIMING)


@contextlib.asynccontextmanager
async def control_of(peer: FakeAmi):
    """An AmiPbxControl logged in to `peer`; the link closed and the peer stopped afterwards."""
    connection = _connection(await peer.start())
    connection.start()
    try:
        await connection.wait_logged_in(5)
        yield AmiPbxControl(connection)
    finally:
        connection.close()
        await peer.stop()


# -- what the peer received ------------------------------------------------------
class Sent:
    """One action as the peer read it off the wire: its header lines, in order,
    a header given more than once (Variable) kept once per line."""

    def __init__(self, frame: bytes):
        self.raw = frame
        self.lines = [line.partition(": ")[::2] for line in frame.decode().split("\r\n")
                      if ": " in line]

    @property
    def action(self) -> str:
        return self.one("Action")

    def all(self, key: str) -> list[str]:
        return [value for name, value in self.lines if name == key]

    def one(self, key: str) -> str:
        values = self.all(key)
        assert len(values) == 1, f"{key} appears {len(values)} times in {self.raw!r}"
        return values[0]

    def has(self, key: str) -> bool:
        return bool(self.all(key))


def sent(peer: FakeAmi) -> list[Sent]:
    """The actions the control sent: everything but the login and keep-alive pings."""
    frames = [Sent(frame) for frame in peer.frames]
    return [frame for frame in frames if frame.action not in ("Login", "Ping")]


# -- Asterisk's replies, scripted --------------------------------------------------
def _headers(fields: dict) -> str:
    lines = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}: {item}\n")
    return "".join(lines)


def error(message: str):
    return lambda action: f"Response: Error\nActionID: {action['ActionID']}\nMessage: {message}\n\n"


def success(**fields):
    return lambda action: f"Response: Success\nActionID: {action['ActionID']}\n{_headers(fields)}\n"


def event_list(events: tuple[str, str], items, message: str = "will follow"):
    """A list action's reply as Asterisk writes it: the start, one event per
    item (`items`: dicts, or a function of the action that gives them), and
    the closing event; `events` is (the item event's name, the closing one's)."""
    name, complete = events

    def reply(action):
        action_id = action["ActionID"]
        rows = items(action) if callable(items) else items
        text = f"Response: Success\nActionID: {action_id}\nEventList: start\nMessage: {message}\n\n"
        for row in rows:
            text += f"Event: {name}\nActionID: {action_id}\n{_headers(row)}\n"
        return text + f"Event: {complete}\nActionID: {action_id}\nEventList: Complete\nListItems: {len(rows)}\n\n"

    return reply


def core_show_channels(*channels: dict):
    return event_list(("CoreShowChannel", "CoreShowChannelsComplete"), list(channels),
                      message="Channels will follow")


def channel(name: str, uniqueid: str = "", bridge: str = "") -> dict:
    return {"Channel": name, "Uniqueid": uniqueid or f"1712000000.{int(name.rsplit('-', 1)[-1][:8], 16)}",
            "Context": "from-internal", "BridgeId": bridge, "Application": "Dial"}


@contextlib.contextmanager
def raises_reason(reason: str):
    """The block raises a linkdesk error whose `reason` is `reason`."""
    with pytest.raises(Exception) as err:
        yield err
    assert getattr(err.value, "reason", None) == reason, f"{err.value!r} is not {reason!r}"


# -- channel_facts ----------------------------------------------------------------
STATUS_VARIABLES = ["UNIQUEID=1712000000.41", "CHANNEL(linkedid)=1712000000.40",
                    "CALLERID(num)=015112345678", "CALLERID(num-pres)=allowed_not_screened",
                    "QUEUENAME=hotline", "MEMBERINTERFACE=PJSIP/2001", "CALLERID(name)=黄女士"]


def _status(variables):
    return event_list(("Status", "StatusComplete"),
                      [{"Channel": "PJSIP/trunk-00000007", "ChannelState": "6", "Variable": variables}],
                      message="Channel status will follow")


@on_loop
async def test_channel_facts_is_one_status_action_with_the_variables_list(peer):
    peer.replies["Status"] = _status(STATUS_VARIABLES)
    async with control_of(peer) as control:
        facts = await control.channel_facts("PJSIP/trunk-00000007")
    [status] = sent(peer)
    assert status.action == "Status" and status.one("Channel") == "PJSIP/trunk-00000007"
    assert status.one("Variables") == ("UNIQUEID,CHANNEL(linkedid),CALLERID(num),CALLERID(num-pres),"
                                       "QUEUENAME,MEMBERINTERFACE,CALLERID(name)")
    assert facts == {"uniqueid": "1712000000.41", "linkedid": "1712000000.40", "caller": "015112345678",
                     "presentation": "allowed_not_screened", "queue": "hotline", "member": "PJSIP/2001",
                     "name": "黄女士", "channel": "PJSIP/trunk-00000007"}


@on_loop
async def test_channel_facts_behind_a_local_channel_member_are_the_citizens(peer):
    # FreePBX-style member: the operator's phone is bridged with Local/…;2, whose
    # other half ;1 is bridged with the citizen.
    answers = [_status(["BRIDGEPEER=PJSIP/anonymous-00000003"]), _status(STATUS_VARIABLES)]
    peer.replies["Status"] = lambda action: answers.pop(0)(action)
    async with control_of(peer) as control:
        facts = await control.channel_facts("Local/1101@from-queue-00000004;2")
    first, second = sent(peer)
    assert (first.one("Channel"), first.one("Variables")) == ("Local/1101@from-queue-00000004;1", "BRIDGEPEER")
    assert second.one("Channel") == "PJSIP/anonymous-00000003"
    assert facts["channel"] == "PJSIP/anonymous-00000003" and facts["uniqueid"] == "1712000000.41"


@on_loop
async def test_channel_facts_reads_null_and_missing_values_as_empty(peer):
    # A call that came in directly: no queue, no member; Asterisk prints "(null)".
    peer.replies["Status"] = _status(["UNIQUEID=1712000000.41", "CHANNEL(linkedid)=1712000000.41",
                                      "CALLERID(num)=(null)", "QUEUENAME=(null)", "MEMBERINTERFACE=(null)"])
    async with control_of(peer) as control:
        facts = await control.channel_facts("PJSIP/trunk-00000007")
    assert facts == {"uniqueid": "1712000000.41", "linkedid": "1712000000.41", "caller": "",
                     "presentation": "", "queue": "", "member": "", "name": "", "channel": "PJSIP/trunk-00000007"}
    assert set(facts) == {key for key, _ in FACTS} | {"channel"}


@on_loop
async def test_channel_facts_is_empty_when_asterisk_has_no_such_channel(peer):
    peer.replies["Status"] = error("No such channel")
    async with control_of(peer) as control:
        facts = await control.channel_facts("PJSIP/trunk-0000dead")
    assert facts == {}
    assert [frame.action for frame in sent(peer)] == ["Status"]


# -- bridged_call -----------------------------------------------------------------
@on_loop
async def test_bridged_call_finds_the_operators_pjsip_channel_and_its_bridge_peer(peer):
    peer.replies["CoreShowChannels"] = core_show_channels(
        channel("PJSIP/20011-00000001", bridge="b-other"),          # another extension, same prefix
        channel("PJSIP/trunk-00000002", bridge="b-other"),
        channel("Local/2001@linkdesk-transfer-00000003;1"),         # not PJSIP
        channel("PJSIP/2001-00000004"),                             # the operator's, not bridged
        channel("PJSIP/trunk-00000005", bridge="b-mine"),
        channel("PJSIP/2001-00000006", bridge="b-mine"),
    )
    async with control_of(peer) as control:
        call = await control.bridged_call("2001")
    assert call == ("PJSIP/2001-00000006", "PJSIP/trunk-00000005")
    assert [frame.action for frame in sent(peer)] == ["CoreShowChannels"]


@on_loop
async def test_bridged_call_is_none_when_the_operator_is_not_bridged(peer):
    peer.replies["CoreShowChannels"] = core_show_channels(
        channel("PJSIP/2001-00000001"),                             # ringing, in no bridge
        channel("PJSIP/2001-00000002", bridge="b-alone"),           # alone in its bridge
        channel("PJSIP/20011-00000003", bridge="b-other"),          # a different extension
        channel("PJSIP/trunk-00000004", bridge="b-other"),
    )
    async with control_of(peer) as control:
        assert await control.bridged_call("2001") is None
        peer.replies["CoreShowChannels"] = core_show_channels()     # no channels at all
        assert await control.bridged_call("2001") is None


# -- hand_over --------------------------------------------------------------------
STAMPS = [("PJSIP/trunk-00000005", "LINKDESK_TRANSFER", "t-42"),
          ("PJSIP/trunk-00000005", "LINKDESK_TARGET", "12345"),
          ("PJSIP/2001-00000006", "LINKDESK_ROLE", "operator")]


@on_loop
async def test_hand_over_writes_every_setvar_before_the_redirect_and_before_any_reply(peer):
    move = Move("PJSIP/trunk-00000005", "linkdesk-transfer", "to-12345")
    async with control_of(peer) as control:
        peer.holding = True
        handing = asyncio.ensure_future(control.hand_over(STAMPS, move))
        await until(lambda: len(sent(peer)) == 4, timeout=5.0, every=0.01)
        # Everything is on the wire while no reply has come back yet.
        assert not handing.done()
        actions = sent(peer)
        assert [frame.action for frame in actions] == ["Setvar", "Setvar", "Setvar", "Redirect"]
        assert [(f.one("Channel"), f.one("Variable"), f.one("Value")) for f in actions[:3]] == STAMPS
        redirect = actions[3]
        assert (redirect.one("Channel"), redirect.one("Context"), redirect.one("Exten"),
                redirect.one("Priority")) == ("PJSIP/trunk-00000005", "linkdesk-transfer", "to-12345", "1")
        assert not any(redirect.has(key) for key in ("ExtraChannel", "ExtraContext", "ExtraExten",
                                                      "ExtraPriority"))
        peer.release()
        assert await asyncio.wait_for(handing, 5) is None


@on_loop
async def test_hand_over_redirect_carries_the_extra_channel_of_a_two_channel_move(peer):
    move = Move("PJSIP/trunk-00000005", "linkdesk-return", "citizen", extra_channel="PJSIP/2001-00000006",
                extra_exten="operator")
    async with control_of(peer) as control:
        await control.hand_over(STAMPS[:1], move)
    setvar, redirect = sent(peer)
    assert setvar.action == "Setvar" and redirect.action == "Redirect"
    assert (redirect.one("Channel"), redirect.one("Context"), redirect.one("Exten"), redirect.one("Priority")) \
        == ("PJSIP/trunk-00000005", "linkdesk-return", "citizen", "1")
    assert (redirect.one("ExtraChannel"), redirect.one("ExtraContext"), redirect.one("ExtraExten"),
            redirect.one("ExtraPriority")) == ("PJSIP/2001-00000006", "linkdesk-return", "operator", "1")


@on_loop
async def test_hand_over_without_a_move_only_sets_the_variables(peer):
    async with control_of(peer) as control:
        await control.hand_over(STAMPS, None)
    assert [frame.action for frame in sent(peer)] == ["Setvar"] * 3


@on_loop
async def test_hand_over_raises_when_the_redirect_is_refused(peer):
    peer.replies["Redirect"] = error("Channel specified does not exist")
    move = Move("PJSIP/trunk-0000dead", "linkdesk-transfer", "to-12345")
    async with control_of(peer) as control:
        with raises_reason("ami-action-failed") as err:
            await control.hand_over(STAMPS[:2], move)
    assert "Redirect" in str(err.value) and "does not exist" in str(err.value)
    assert [frame.action for frame in sent(peer)] == ["Setvar", "Setvar", "Redirect"]


# -- call_into_room ---------------------------------------------------------------
def originate_response(response: str, reason: str, channel_name: str = ""):
    """Asterisk's two replies to an Async Originate: queued, then the outcome."""

    def reply(action):
        action_id = action["ActionID"]
        return (f"Response: Success\nActionID: {action_id}\nMessage: Originate successfully queued\n\n"
                f"Event: OriginateResponse\nPrivilege: call,all\nActionID: {action_id}\n"
                f"Response: {response}\nChannel: {channel_name or action['Channel']}\nContext: \nExten: \n"
                f"Application: ConfBridge\nData: {action['Data']}\nReason: {reason}\n"
                f"Uniqueid: 1712000000.77\nCallerIDNum: {action.get('CallerID', '')}\n\n")

    return reply


ROOM_CALL = dict(exten="2001", room="conf-7", caller="110", variables={"LINKDESK_CONFERENCE": "conf-7",
                                                                       "LINKDESK_ROLE": "operator"},
                 timeout=20, channel_id="linkdesk-conf-7-2001")


def _answer_originates(peer: FakeAmi, response: str, reason: str, channel_name: str = "") -> None:
    peer.unanswered.discard("Originate")
    peer.replies["Originate"] = originate_response(response, reason, channel_name)


@on_loop
async def test_call_into_room_originates_async_into_the_rooms_confbridge_and_answers(peer):
    _answer_originates(peer, "Success", "4", "Local/2001@linkdesk-conference-dial-00000009;1")
    async with control_of(peer) as control:
        outcome = await control.call_into_room(**ROOM_CALL)
    assert outcome == ("Local/2001@linkdesk-conference-dial-00000009;1", "ANSWER")
    [originate] = sent(peer)
    assert originate.action == "Originate" and originate.one("Async") == "true"
    assert originate.one("Channel") == f"Local/2001@{CONFERENCE_DIAL}/n"
    assert originate.one("Application") == "ConfBridge"
    assert originate.one("Data") == "conf-7,linkdesk_bridge,linkdesk_operator,linkdesk_menu"
    assert originate.one("CallerID") == "110"
    assert originate.one("ChannelId") == "linkdesk-conf-7-2001"
    assert originate.one("Timeout") == "20000"
    assert sorted(originate.all("Variable")) == ["LINKDESK_CONFERENCE=conf-7", "LINKDESK_ROLE=operator"]
    assert not originate.has("Context") and not originate.has("Exten")


@on_loop
async def test_call_into_room_goes_through_the_context_it_is_given(peer):
    _answer_originates(peer, "Success", "4")
    async with control_of(peer) as control:
        channel_name, status = await control.call_into_room(**ROOM_CALL, via="linkdesk-unit-dial")
    [originate] = sent(peer)
    assert originate.one("Channel") == "Local/2001@linkdesk-unit-dial/n"
    assert (channel_name, status) == ("Local/2001@linkdesk-unit-dial/n", "ANSWER")


@pytest.mark.parametrize(("reason", "status"), [("3", "NOANSWER"), ("5", "BUSY"), ("8", "CONGESTION"),
                                                ("1", "CANCEL"), ("0", "CHANUNAVAIL"), ("7", "CHANUNAVAIL")])
@on_loop
async def test_call_into_room_maps_a_failed_originate_response_reason_to_a_dial_status(peer, reason, status):
    _answer_originates(peer, "Failure", reason)
    async with control_of(peer) as control:
        outcome = await control.call_into_room(**ROOM_CALL)
    assert outcome == ("", status)
    assert [frame.action for frame in sent(peer)] == ["Originate"]


@on_loop
async def test_call_into_room_is_chanunavail_when_the_originate_itself_is_refused(peer):
    peer.unanswered.discard("Originate")
    peer.replies["Originate"] = error("Originate failed")
    async with control_of(peer) as control:
        assert await control.call_into_room(**ROOM_CALL) == ("", "CHANUNAVAIL")


# -- conferences ------------------------------------------------------------------
MEMBERS = {
    "conf-7": [{"Conference": "conf-7", "CallerIDNum": "015112345678", "Channel": "PJSIP/trunk-00000005",
                "Admin": "No", "Muted": "No"},
               {"Conference": "conf-7", "CallerIDNum": "2001", "Channel": "PJSIP/2001-00000006",
                "Admin": "Yes", "Muted": "No"}],
    "conf-8": [{"Conference": "conf-8", "CallerIDNum": "2002", "Channel": "PJSIP/2002-00000010",
                "Admin": "Yes", "Muted": "Yes"}],
}


def _confbridge_list(action):
    # conf-9 ended between the two actions: Asterisk answers as if nothing ran.
    if action["Conference"] not in MEMBERS:
        return error("No active conferences.")(action)
    return event_list(("ConfbridgeList", "ConfbridgeListComplete"), MEMBERS[action["Conference"]])(action)


@on_loop
async def test_conference_listing_lists_every_room_and_its_entries(peer):
    peer.replies["ConfbridgeListRooms"] = event_list(
        ("ConfbridgeListRooms", "ConfbridgeListRoomsComplete"),
        [{"Conference": room, "Parties": "1", "Marked": "0", "Locked": "No"} for room in ("conf-7", "conf-8", "conf-9")])
    peer.replies["ConfbridgeList"] = _confbridge_list
    async with control_of(peer) as control:
        listing = await control.conference_listing()
    assert set(listing) == {"conf-7", "conf-8", "conf-9"}
    assert [(e["Channel"], e["Admin"]) for e in listing["conf-7"]] == [("PJSIP/trunk-00000005", "No"),
                                                                      ("PJSIP/2001-00000006", "Yes")]
    assert [(e["Channel"], e["Muted"]) for e in listing["conf-8"]] == [("PJSIP/2002-00000010", "Yes")]
    assert listing["conf-9"] == []
    assert all(type(entry) is dict for entries in listing.values() for entry in entries)
    actions = sent(peer)
    assert actions[0].action == "ConfbridgeListRooms"
    assert sorted(f.one("Conference") for f in actions[1:] if f.action == "ConfbridgeList") \
        == ["conf-7", "conf-8", "conf-9"]


@on_loop
async def test_conference_listing_is_empty_when_no_conference_runs(peer):
    peer.replies["ConfbridgeListRooms"] = error("No active conferences.")
    async with control_of(peer) as control:
        assert await control.conference_listing() == {}
    assert [frame.action for frame in sent(peer)] == ["ConfbridgeListRooms"]


@on_loop
async def test_kick_sends_confbridge_kick_for_the_room_and_channel(peer):
    async with control_of(peer) as control:
        assert await control.kick("conf-7", "PJSIP/2001-00000006") is None
    [kick] = sent(peer)
    assert (kick.action, kick.one("Conference"), kick.one("Channel")) \
        == ("ConfbridgeKick", "conf-7", "PJSIP/2001-00000006")


@on_loop
async def test_a_refused_kick_raises(peer):
    peer.replies["ConfbridgeKick"] = error("No Conference by that name found.")
    async with control_of(peer) as control:
        with raises_reason("ami-action-failed"):
            await control.kick("conf-gone", "PJSIP/2001-00000006")


@on_loop
async def test_mute_sends_confbridge_mute_and_unmute_sends_confbridge_unmute(peer):
    async with control_of(peer) as control:
        await control.mute("conf-7", "PJSIP/trunk-00000005", True)
        await control.mute("conf-7", "PJSIP/trunk-00000005", False)
    assert [(f.action, f.one("Conference"), f.one("Channel")) for f in sent(peer)] == [
        ("ConfbridgeMute", "conf-7", "PJSIP/trunk-00000005"),
        ("ConfbridgeUnmute", "conf-7", "PJSIP/trunk-00000005")]


# -- hangup_uniqueid --------------------------------------------------------------
LIVE = (channel("PJSIP/trunk-00000005", uniqueid="1712000000.41", bridge="b-mine"),
        channel("PJSIP/2001-00000006", uniqueid="1712000000.42", bridge="b-mine"))


@on_loop
async def test_hangup_uniqueid_hangs_up_the_channel_with_that_uniqueid(peer):
    peer.replies["CoreShowChannels"] = core_show_channels(*LIVE)
    async with control_of(peer) as control:
        await control.hangup_uniqueid("1712000000.42")
    lookup, hangup = sent(peer)
    assert lookup.action == "CoreShowChannels"
    assert (hangup.action, hangup.one("Channel")) == ("Hangup", "PJSIP/2001-00000006")
    assert not hangup.has("Cause")


@on_loop
async def test_hangup_uniqueid_hangs_up_nothing_when_no_channel_has_that_uniqueid(peer):
    peer.replies["CoreShowChannels"] = core_show_channels(*LIVE)
    async with control_of(peer) as control:
        await control.hangup_uniqueid("1712000000.99")
    # hangup_uniqueid has returned: a Hangup would have been written (and answered) by now.
    assert [frame.action for frame in sent(peer)] == ["CoreShowChannels"]


# -- take_outcome -----------------------------------------------------------------
def _globals(peer: FakeAmi, values: dict[str, str]) -> None:
    """Getvar and Setvar of Asterisk's global variables, kept in `values`."""

    def getvar(action):
        return success(Variable=action["Variable"], Value=values.get(action["Variable"], ""))(action)

    def setvar(action):
        values[action["Variable"]] = action.get("Value", "")
        return success(Message="Variable Set")(action)

    peer.replies.update(Getvar=getvar, Setvar=setvar)


@on_loop
async def test_take_outcome_reads_the_global_and_clears_it(peer):
    values = {"LINKDESK_OUTCOME_t-42": "failed:BUSY"}
    _globals(peer, values)
    async with control_of(peer) as control:
        assert await control.take_outcome("t-42") == "failed:BUSY"
        assert values == {"LINKDESK_OUTCOME_t-42": ""}
        assert await control.take_outcome("t-42") == ""
    getvar, setvar, getvar_again = sent(peer)
    assert (getvar.action, getvar.one("Variable")) == ("Getvar", "LINKDESK_OUTCOME_t-42")
    assert (setvar.action, setvar.one("Variable"), setvar.one("Value")) == ("Setvar", "LINKDESK_OUTCOME_t-42", "")
    assert not getvar.has("Channel") and not setvar.has("Channel"), "a global, not a channel variable"
    assert getvar_again.action == "Getvar"


@on_loop
async def test_take_outcome_is_empty_and_clears_nothing_when_the_global_is_unset(peer):
    _globals(peer, {})
    async with control_of(peer) as control:
        assert await control.take_outcome("t-43") == ""
        peer.replies["Getvar"] = error("Invalid variable")      # a refused Getvar reads as unset too
        assert await control.take_outcome("t-43") == ""
    assert [(f.action, f.one("Variable")) for f in sent(peer)] == [("Getvar", "LINKDESK_OUTCOME_t-43")] * 2


# -- the link down ----------------------------------------------------------------
@on_loop
async def test_an_action_on_a_never_connected_link_raises_ami_not_connected_and_sends_nothing(peer):
    connection = _connection(await peer.start())         # never started
    control = AmiPbxControl(connection)
    try:
        with raises_reason("ami-not-connected"):
            await control.kick("conf-7", "PJSIP/2001-00000006")
        with raises_reason("ami-not-connected"):
            await control.channel_facts("PJSIP/trunk-00000005")
    finally:
        connection.close()
        await peer.stop()
    assert peer.connections == 0 and peer.frames == []


@on_loop
async def test_an_action_after_the_peer_closed_raises_ami_not_connected(peer):
    async with control_of(peer) as control:
        connection = control.actions.connection
        await peer.stop()
        await until(lambda: not connection.logged_in, timeout=5.0, every=0.01)
        before = len(peer.frames)
        with raises_reason("ami-not-connected"):
            await control.hangup_uniqueid("1712000000.42")
        with raises_reason("ami-not-connected"):
            await control.hand_over(STAMPS, Move("PJSIP/trunk-00000005", "linkdesk-transfer", "to-12345"))
        assert len(peer.frames) == before


@on_loop
async def test_an_action_in_flight_when_the_peer_closes_raises_ami_connection_lost(peer):
    # Originate is one of the peer's unanswered actions: the call is still ringing.
    async with control_of(peer) as control:
        calling = asyncio.ensure_future(control.call_into_room(**ROOM_CALL))
        await until(lambda: [frame.action for frame in sent(peer)] == ["Originate"], timeout=5.0, every=0.01)
        peer.drop_all()
        with raises_reason("ami-connection-lost"):
            await asyncio.wait_for(calling, 5)
