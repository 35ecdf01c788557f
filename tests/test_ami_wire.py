"""AMI framing against recorded lab traffic (tests/fixtures/ami/), in any
chunking, and the refusal of CR/LF/NUL in actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkdesk.ami.wire import AmiMessage, FrameParser, UnsafeAmiValue, encode_action, parse_frame

RECORDED = (Path(__file__).parent / "fixtures" / "ami" / "lab110-queue-call.ami").read_bytes()


def _replay(chunk: int) -> list[AmiMessage]:
    parser = FrameParser()
    messages = []
    for start in range(0, len(RECORDED), chunk):
        messages.extend(parser.feed(RECORDED[start:start + chunk]))
    return messages


def test_recorded_call_parses_into_the_events_asterisk_sent():
    messages = _replay(len(RECORDED))
    events = [m for m in messages if m.name]
    assert len(events) == RECORDED.count(b"\r\nEvent: ") + RECORDED.startswith(b"Event: ")
    join = next(e for e in events if e.name == "QueueCallerJoin")
    assert (join.Queue, join.CallerIDNum, join.Position) == ("110-intake", "13800138000", "1")
    connect = next(e for e in events if e.name == "AgentConnect")
    assert connect.CallerIDNum == "13800138000" and connect.MemberName.startswith("Operator ")
    names = [e.name for e in events]
    assert names.index("QueueCallerJoin") < names.index("AgentCalled") < names.index("AgentConnect")


def test_login_reply_behind_the_banner_is_read():
    first = _replay(len(RECORDED))[0]
    assert first["Response"] == "Success" and first["ActionID"] == "rec-login"


def test_list_replies_carry_their_action_id():
    messages = _replay(len(RECORDED))
    status = [m for m in messages if m.get("ActionID") == "rec-1"]
    assert status[0]["Response"] == "Success" and status[0]["EventList"] == "start"
    assert status[-1].name == "QueueStatusComplete"
    assert {m.name for m in status[1:-1]} <= {"QueueParams", "QueueMember", "QueueEntry"}


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5, 6, 7, 8, 9, 4096])
def test_any_chunking_gives_the_same_messages(chunk):
    assert _replay(chunk) == _replay(len(RECORDED))


def test_repeated_headers_become_lists_and_missing_fields_read_empty():
    message = parse_frame(b"Event: VarSet\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nValue: x: y")
    assert message["ChanVariable"] == ["A=1", "B=2"]
    assert message.Value == "x: y" and message.Nonexistent == ""


def test_frames_without_event_or_response_are_dropped():
    assert FrameParser().feed(b"Asterisk Call Manager/11.0.0\r\nJunk: 1\r\n\r\n") == []


def test_actions_are_encoded_with_repeated_variables():
    data = encode_action({"Action": "Originate", "Variable": ["A=1", "B=2"], "Priority": 1})
    assert data == b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\nPriority: 1\r\n\r\n"


@pytest.mark.parametrize("field, value", [
    ("Value", "x\r\nAction: Hangup"), ("Value", "a\nb"), ("Value", "nul\x00"),
    ("Bad\r\nKey", "v"), ("Variable", ["A=1", "B=2\r\nAction: Hangup"]),
])
def test_cr_lf_nul_in_an_action_are_refused(field, value):
    with pytest.raises(UnsafeAmiValue) as err:
        encode_action({"Action": "Setvar", field: value})
    assert err.value.reason == "ami-unsafe-value"
