"""The busy hour's bookkeeping without the lab: plans carried in numbers,
Poisson arrivals, what a citizen's phone trace says, and each citizen's
verdict from the PBXs' events and the store."""

from __future__ import annotations

import random

import pytest

from linkdesk.bridge.lab.busy import account
from linkdesk.bridge.lab.busy.figures import hand_overs, key_accounting, met_a_free_operator
from linkdesk.bridge.lab.busy.plan import BLIND, EMERGENCY, TALK, WARM, Citizen, Shares, arrivals, busy_hour, \
    number, plan_of
from linkdesk.bridge.lab.busy.trace import Leg, leg

T0 = 1_800_000_000.0


def test_a_number_carries_its_side_and_plan_and_no_other_number_is_read_as_a_plan():
    assert plan_of(number("9", BLIND, 42)) == ("9", BLIND)
    assert number("8", EMERGENCY, 7) == "13890000007"
    for other in ("13700138000", "110", "1391000000", "13910000000x", ""):
        assert plan_of(other) is None


def test_arrivals_are_poisson_at_the_rate_asked():
    times = arrivals(4.0, 2000.0, random.Random(3))
    assert all(0 < a < b < 2000 for a, b in zip(times, times[1:]))
    assert len(times) == pytest.approx(8000, rel=0.05)
    gaps = [b - a for a, b in zip(times, times[1:])]
    # Exponential gaps: as many below the mean's ln 2 as above it.
    below = sum(g < 0.25 * 0.6931 for g in gaps) / len(gaps)
    assert below == pytest.approx(0.5, abs=0.03)


def test_a_busy_hour_has_the_shares_asked_and_unique_numbers_and_is_the_same_for_a_seed():
    citizens = busy_hour(4.0, 600.0, seed=5)
    assert citizens == busy_hour(4.0, 600.0, seed=5)
    assert len({c.number for c in citizens}) == len(citizens)
    at_110 = [c for c in citizens if c.pbx == "110"]
    at_12345 = [c for c in citizens if c.pbx == "12345"]
    assert len(at_12345) / len(at_110) == pytest.approx(Shares().direct_12345, rel=0.15)
    handed = [c for c in at_110 if c.plan in (BLIND, WARM)]
    assert len(handed) / len(at_110) == pytest.approx(1 / 3, abs=0.05)
    assert {c.plan for c in at_12345} == {TALK, EMERGENCY}
    assert all(plan_of(c.number) == (("9" if c.pbx == "110" else "8"), c.plan) for c in citizens)


def _block(at: float, direction: str, message: str) -> str:
    stamp = __import__("datetime").datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"----------------------------------------------- {stamp}\nUDP message {direction} [99] bytes :\n\n{message}\n\n"


INVITE = "INVITE sip:110@127.0.0.1:5160 SIP/2.0\nCSeq: 1 INVITE"
OK_INVITE = "SIP/2.0 200 OK\nCSeq: 1 INVITE"


@pytest.mark.parametrize("steps, ended_by", [
    ([(0, "sent", INVITE), (1, "received", OK_INVITE), (5, "sent", "BYE sip:110@x SIP/2.0\nCSeq: 2 BYE")], "citizen"),
    ([(0, "sent", INVITE), (3, "sent", "CANCEL sip:110@x SIP/2.0\nCSeq: 1 CANCEL")], "gave-up"),
    ([(0, "sent", INVITE), (1, "received", OK_INVITE), (4, "received", "BYE sip:c@x SIP/2.0\nCSeq: 9 BYE")], "pbx"),
    ([(0, "sent", INVITE), (1, "received", "SIP/2.0 503 Service Unavailable\nCSeq: 1 INVITE")], "refused 503"),
    ([(0, "sent", INVITE), (1, "received", OK_INVITE)], "unfinished"),
])
def test_the_trace_says_who_ended_the_call(steps, ended_by):
    found = leg("".join(_block(T0 + at, direction, text) for at, direction, text in steps))
    assert found.ended_by == ended_by
    assert found.started == pytest.approx(T0, abs=1e-3)


def _citizen(plan: str = TALK, pbx: str = "110") -> Citizen:
    return Citizen(0.0, pbx, number("9" if pbx == "110" else "8", plan, 1), plan, 60.0, 3.0)


def _events(c: Citizen, *steps) -> list[dict]:
    """AMI events for citizen `c`: their channel, then (at, Event, fields) steps."""
    channel = "PJSIP/anonymous-00000001"
    out = [{"pbx": c.pbx, "at": T0, "Event": "Newchannel", "Channel": channel, "CallerIDNum": c.number}]
    for at, name, fields in steps:
        out.append({"pbx": c.pbx, "at": T0 + at, "Event": name, "Channel": channel, "CallerIDNum": c.number,
                    **fields})
    return out


OPERATORS = {"110": {"1201"}, "12345": {"2201"}}


def _verdict(c: Citizen, leg_: Leg, events: list[dict], transfer: dict | None = None) -> account.Verdict:
    legs = {c.number: leg_}
    in_order = sorted(events, key=lambda e: e["at"])    # as the PBX sends them
    return account.account([c], legs, account.facts(in_order, OPERATORS, legs), [transfer] if transfer else [])[0]


def _with_operator(pbx: str, at: float, bridge: str = "b1", channel: str = "PJSIP/1201-00000002") -> dict:
    return {"pbx": pbx, "at": T0 + at, "Event": "BridgeEnter", "Channel": channel, "CallerIDNum": "1201",
            "BridgeUniqueid": bridge}


def test_a_citizen_who_talked_to_an_operator_and_hung_up_is_completed():
    c = _citizen()
    events = [*_events(c, (0.0, "QueueCallerJoin", {}), (1.0, "QueueCallerLeave", {}),
                       (1.0, "BridgeEnter", {"BridgeUniqueid": "b1"})), _with_operator("110", 1.0)]
    assert _verdict(c, Leg(T0, T0 + 1.0, T0 + 4.0, "citizen"), events).outcome == "completed"


def test_a_citizen_the_pbx_hung_up_on_is_dropped_whatever_else_happened():
    c = _citizen()
    events = [*_events(c, (1.0, "BridgeEnter", {"BridgeUniqueid": "b1"})), _with_operator("110", 1.0)]
    verdict = _verdict(c, Leg(T0, T0 + 1.0, T0 + 4.0, "pbx"), events)
    assert (verdict.outcome, verdict.where) == ("dropped", "the PBX hung up on them")


def test_a_citizen_left_out_of_any_bridge_queue_or_ringing_is_dropped_in_silence():
    c = _citizen(BLIND)
    events = [*_events(c, (1.0, "BridgeEnter", {"BridgeUniqueid": "b1"}), (2.0, "BridgeLeave", {"BridgeUniqueid": "b1"}),
                       (7.0, "DialBegin", {}), (8.0, "DialEnd", {})), _with_operator("110", 1.0)]
    verdict = _verdict(c, Leg(T0, T0 + 1.0, T0 + 8.5, "citizen"), events)
    assert verdict.outcome == "dropped" and verdict.where == "left in silence for 5.0 s"


def test_a_handed_over_citizen_who_talked_at_the_other_side_is_completed_and_transferred():
    c = _citizen(BLIND)
    events = [*_events(c, (1.0, "BridgeEnter", {"BridgeUniqueid": "b1"}), (2.0, "BridgeLeave", {"BridgeUniqueid": "b1"}),
                       (2.0, "DialBegin", {}), (3.0, "DialEnd", {}), (3.0, "BridgeEnter", {"BridgeUniqueid": "b2"})),
              _with_operator("110", 1.0),
              {"pbx": "12345", "at": T0 + 3.0, "Event": "BridgeEnter", "Channel": "PJSIP/to-110-00000009",
               "CallerIDNum": c.number, "BridgeUniqueid": "x"},
              _with_operator("12345", 3.0, "x", "PJSIP/2201-0000000a")]
    transfer = {"caller_number": c.number, "state": "completed", "created_at": T0 + 2.0, "updated_at": T0 + 3.0}
    verdict = _verdict(c, Leg(T0, T0 + 1.0, T0 + 9.0, "citizen"), events, transfer)
    assert (verdict.outcome, verdict.transferred, verdict.returned) == ("completed", True, False)


def test_a_citizen_who_hung_up_while_the_other_side_rang_abandoned_during_the_hand_over():
    c = _citizen(BLIND)
    events = [*_events(c, (1.0, "BridgeEnter", {"BridgeUniqueid": "b1"}), (2.0, "BridgeLeave", {"BridgeUniqueid": "b1"}),
                       (2.0, "DialBegin", {})), _with_operator("110", 1.0)]
    transfer = {"caller_number": c.number, "state": "abandoned", "created_at": T0 + 2.0, "updated_at": T0 + 4.0}
    verdict = _verdict(c, Leg(T0, T0 + 1.0, T0 + 4.0, "citizen"), events, transfer)
    assert (verdict.outcome, verdict.where) == ("abandoned", "during the hand-over (transfer abandoned)")


def test_a_citizen_who_gave_up_unanswered_abandoned_in_the_queue():
    c = _citizen(pbx="12345")
    verdict = _verdict(c, Leg(T0, None, T0 + 4.0, "gave-up"), _events(c, (0.0, "QueueCallerJoin", {})))
    assert (verdict.outcome, verdict.where, verdict.after) == ("abandoned", "unanswered in the 12345 queue", 4.0)


def test_the_one_line_accounting_adds_up():
    verdicts = [account.Verdict("1", TALK, "completed", "", 1, "", False, False),
                account.Verdict("2", BLIND, "completed", "", 1, "completed", True, False),
                account.Verdict("3", BLIND, "completed", "", 1, "returned", False, True),
                account.Verdict("4", TALK, "abandoned", "x", 1, "", False, False)]
    assert account.one_line(verdicts) == "offered=4 completed=3 transferred=1 returned=1 abandoned=1 dropped=0"


def test_a_hand_overs_routing_splits_at_linkdesks_request_its_move_and_the_trunk_calls_arrival():
    transfer = {"id": "tr-1", "caller_number": "13800000001", "pbx": "110", "lane": "normal", "mode": "blind",
                "operator_channel": "PJSIP/1201-00000001", "received_at": T0 + 0.040, "created_at": T0 + 0.041}
    events = [{"pbx": "110", "at": T0, "Event": "DTMFEnd", "Direction": "Received", "Digit": "5",
               "Channel": "PJSIP/1201-00000001"},
              {"pbx": "12345", "at": T0 + 0.080, "Event": "Newchannel", "CallerIDNum": "13800000001"},
              {"pbx": "12345", "at": T0 + 0.300, "Event": "QueueCallerJoin", "CallerIDNum": "13800000001"}]
    (over,) = hand_overs([transfer], events, {}, {"tr-1": T0 + 0.050})
    assert over.key_to_request == pytest.approx(0.040) and over.linkdesk == pytest.approx(0.010)
    assert (over.moved_to_arrived, over.arrived_to_queued) == (pytest.approx(0.030), pytest.approx(0.220))
    assert over.key_to_queued == pytest.approx(0.300)
    assert over.key_to_invite is None, "no receiver's trace: no INVITE, not a made-up one"


def _member(at: float, interface: str, status: str, paused: str = "0", queue: str = "12345-intake") -> dict:
    return {"pbx": "12345", "at": at, "Event": "QueueMemberStatus", "Queue": queue, "Interface": interface,
            "Status": status, "Paused": paused}


def test_a_hand_over_counts_the_receiving_queues_free_operators_as_the_citizen_joined():
    def over_joining(at: float, members: list[dict], position: int = 1):
        transfer = {"id": "tr-1", "caller_number": "13810000001", "pbx": "110", "lane": "normal", "mode": "blind",
                    "operator_channel": "PJSIP/1201-00000001", "received_at": T0 + 0.040, "created_at": T0 + 0.041}
        events = [{"pbx": "110", "at": T0, "Event": "DTMFEnd", "Direction": "Received", "Digit": "5",
                   "Channel": "PJSIP/1201-00000001"},
                  {"pbx": "12345", "at": at, "Event": "QueueCallerJoin", "Queue": "12345-intake",
                   "CallerIDNum": "13810000001", "Position": str(position)}, *members]
        (over,) = hand_overs([transfer], events, {}, {})
        return over
    busy = [_member(T0 - 5, "PJSIP/2201", "2"), _member(T0 - 4, "PJSIP/2202", "6"),
            _member(T0 - 3, "PJSIP/2203", "1", paused="1"), _member(T0 - 3, "PJSIP/2203", "1", queue="other")]
    freed = [_member(T0 + 2, "PJSIP/2201", "1")]
    assert over_joining(T0 + 1, busy + freed).free_at_join == 0, "in use, ringing, paused: none free"
    assert over_joining(T0 + 3, busy + freed).free_at_join == 1, "2201 free again by then"
    assert over_joining(T0 + 1, [_member(T0 - 5, "PJSIP/2201", "2"), _member(T0 + 5, "PJSIP/2204", "2")]) \
        .free_at_join == 1, "a member not yet heard of is free (the run starts with all free)"
    assert over_joining(T0 + 3, busy + freed, position=2).position == 2
    assert met_a_free_operator([over_joining(T0 + 1, busy), over_joining(T0 + 3, busy + freed),
                                over_joining(T0 + 3, busy + freed, position=2)]) \
        == [over_joining(T0 + 3, busy + freed)], "one free operator, and a caller ahead takes it"


def _digit(at: float, digit: str, event: str = "DTMFEnd", channel: str = "PJSIP/1201-00000001") -> dict:
    return {"pbx": "110", "at": at, "Event": event, "Direction": "Received", "Digit": digit, "Channel": channel}


def _press(at: float, digit: str, ends: int = 1, channel: str = "PJSIP/1201-00000001") -> list[dict]:
    return [_digit(at, digit, "DTMFBegin", channel)] + [_digit(at + 0.1 * (n + 1), digit, channel=channel)
                                                        for n in range(ends)]


def test_a_digit_whose_end_the_pbx_told_of_twice_is_one_key_press():
    transfer = {"id": "tr-1", "caller_number": "13800000001", "pbx": "110", "lane": "normal", "mode": "blind",
                "operator_channel": "PJSIP/1201-00000001", "received_at": T0 + 1.0, "created_at": T0 + 1.0,
                "state": "completed"}
    events = _press(T0, "*") + _press(T0 + 0.2, "5", ends=2)
    keys = key_accounting(events, [transfer])
    assert (keys["pressed"], keys["stored"], keys["late"]) == (1, 1, 0), keys
    (over,) = hand_overs([transfer], events, {}, {})
    assert over.key_to_request == pytest.approx(1.0 - 0.3), "the key's time is its digit's first end"


def test_two_presses_of_the_same_key_are_two_and_a_digit_too_late_after_its_star_is_counted_apart():
    again = _press(T0, "*") + _press(T0 + 0.2, "5") + _press(T0 + 2, "*") + _press(T0 + 2.2, "5")
    assert key_accounting(again, [])["pressed"] == 2
    late = _press(T0, "*", channel="PJSIP/1202-00000002") + _press(T0 + 1.6, "5", channel="PJSIP/1202-00000002")
    keys = key_accounting(late + _press(T0, "5", channel="PJSIP/anonymous-00000003"), [])
    assert (keys["pressed"], keys["late"]) == (0, 1), "over 1 s after its *: no key; a citizen's digits: none"
    slow_end = _press(T0, "*") + [_digit(T0 + 0.9, "5", "DTMFBegin"), _digit(T0 + 1.5, "5")]
    assert key_accounting(slow_end, [])["pressed"] == 1, "begun in time: a key, however late its end is told"
