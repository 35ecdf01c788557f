"""Every citizen accounted for: each one's fate, from their own phone's view
(trace.Leg), the PBXs' AMI events and linkdesk's store.

A citizen is exactly one of
- **completed**: talked to a person where their call was meant to end (at
  110; at the other platform if handed over; at the first again if returned),
  then hung up themselves;
- **abandoned**: hung up themselves before that: unanswered in a queue, or
  during a hand-over (where, and after how long, is kept);
- **dropped**: the PBX or linkdesk ended their call (a BYE they did not ask
  for, a refused call, a call never ended), or left them in silence (out of
  any bridge, queue or ringing for longer than SILENCE seconds). The figure
  that must be 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from linkdesk.bridge.lab.busy.plan import TALK, Citizen, plan_of
from linkdesk.bridge.lab.busy.trace import Leg

SILENCE = 3.0    # s out of any bridge, queue or ringing, once answered: no person, no music, no ringback

# AMI events that open and close the spans in which a citizen's channel has
# someone or something on the line (a bridge, a queue's music, a ringing dial).
_SPANS = {"BridgeEnter": "bridge", "BridgeLeave": "bridge", "QueueCallerJoin": "queue",
          "QueueCallerLeave": "queue", "QueueCallerAbandon": "queue", "DialBegin": "dial", "DialEnd": "dial"}
_OPENS = {"BridgeEnter", "QueueCallerJoin", "DialBegin"}


@dataclass(frozen=True)
class Verdict:
    number: str
    plan: str
    outcome: str            # completed | abandoned | dropped
    where: str              # for abandoned and dropped: where, in words
    after: float            # s from the call's start to its end
    transfer: str           # the state of the citizen's transfer, "" without one
    transferred: bool       # talked to a person at the other platform
    returned: bool          # their transfer came back to the first platform


@dataclass(frozen=True)
class Facts:
    """What the PBXs said about the citizens: who talked to a person where and when, and the silences."""

    talked: dict[str, list[tuple[str, float]]]     # number → (pbx, at) per meeting with an operator
    silent: dict[str, float]                       # number → longest span with nothing on the line


def facts(events: list[dict], operators: dict[str, set[str]], legs: dict[str, Leg | None]) -> Facts:
    """`events`: AMI events in arrival order, each with "pbx" and "at" added;
    `operators`: each PBX's operator extensions (their channels are people)."""
    return Facts(_talked(events, operators), _silences(events, legs))


def _is_operator(channel: str, extensions: set[str]) -> bool:
    return channel.startswith("PJSIP/") and channel[6:].rsplit("-", 1)[0] in extensions


def _talked(events: list[dict], operators: dict[str, set[str]]) -> dict[str, list[tuple[str, float]]]:
    members: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    talked: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for event in events:
        name, pbx = event.get("Event"), event["pbx"]
        bridge = (pbx, event.get("BridgeUniqueid", ""))
        if name == "BridgeLeave":
            members[bridge].pop(event.get("Channel", ""), None)
        if name != "BridgeEnter":
            continue
        channel, caller = event.get("Channel", ""), event.get("CallerIDNum", "")
        for other, other_caller in members[bridge].items():
            for citizen_side, number in ((channel, caller), (other, other_caller)):
                person = other if citizen_side == channel else channel
                if plan_of(number) and not _is_operator(citizen_side, operators[pbx]) \
                        and _is_operator(person, operators[pbx]):
                    talked[number].append((pbx, event["at"]))
        members[bridge][channel] = caller
    return talked


def _silences(events: list[dict], legs: dict[str, Leg | None]) -> dict[str, float]:
    """Per citizen, the longest time their own channel (the first one their
    call made) spent, once answered, with nothing on the line."""
    first_channel: dict[str, tuple[str, str]] = {}
    spans: dict[tuple[str, str], list[tuple[float, str, bool]]] = defaultdict(list)
    for event in events:
        channel = event.get("Channel", "")
        number = event.get("CallerIDNum", "")
        if event.get("Event") == "Newchannel" and plan_of(number) and channel.startswith("PJSIP/anonymous-"):
            first_channel.setdefault(number, (event["pbx"], channel))
        kind = _SPANS.get(event.get("Event", ""))
        if kind:
            spans[(event["pbx"], channel)].append((event["at"], kind, event["Event"] in _OPENS))
    longest = {}
    for number, key in first_channel.items():
        leg = legs.get(number)
        if leg and leg.answered and leg.ended:
            longest[number] = _longest_gap(spans[key], leg.answered, leg.ended)
    return longest


def _longest_gap(spans: list[tuple[float, str, bool]], start: float, end: float) -> float:
    """The longest stretch within [start, end] in which no span is open."""
    depth: Counter = Counter()
    quiet_from: float | None = float("-inf")     # nothing is open before the first span
    longest = 0.0
    for at, kind, opens in sorted(spans):
        was_open = any(depth.values())
        if opens:
            depth[kind] += 1
        elif depth[kind]:
            depth[kind] -= 1
        now_open = any(depth.values())
        if was_open and not now_open:
            quiet_from = at
        elif now_open and not was_open and quiet_from is not None:
            longest = max(longest, _overlap(quiet_from, at, start, end))
            quiet_from = None
    if quiet_from is not None:
        longest = max(longest, _overlap(quiet_from, end, start, end))
    return longest


def _overlap(a: float, b: float, start: float, end: float) -> float:
    return max(0.0, min(b, end) - max(a, start))


def verdict(citizen: Citizen, leg: Leg | None, facts_: Facts, transfer: dict | None) -> Verdict:
    """`transfer`: the citizen's transfer in linkdesk's store (the last one), if any."""
    state = transfer["state"] if transfer else ""

    def judged(outcome: str, where: str = "", transferred: bool = False) -> Verdict:
        after = (leg.ended - leg.started) if leg and leg.ended else 0.0
        return Verdict(citizen.number, citizen.plan, outcome, where, after, state, transferred, state == "returned")

    if leg is None:
        return judged("dropped", "their phone never called")
    if leg.ended_by != "citizen" and leg.ended_by != "gave-up":
        return judged("dropped", {"pbx": "the PBX hung up on them", "unfinished": "their call never ended"}
                      .get(leg.ended_by, f"their call was {leg.ended_by}"))
    if leg.ended_by == "gave-up":
        return judged("abandoned", f"unanswered in the {citizen.pbx} queue")
    if facts_.silent.get(citizen.number, 0.0) > SILENCE:
        return judged("dropped", f"left in silence for {facts_.silent[citizen.number]:.1f} s")
    meetings = facts_.talked.get(citizen.number, [])
    if not meetings:
        return judged("dropped", "answered, but never with a person")
    if transfer is None:
        return judged("completed")
    other = [at for pbx, at in meetings if pbx != citizen.pbx and at >= transfer["created_at"]]
    if other:
        return judged("completed", transferred=True)
    if state == "returned":
        back = [at for pbx, at in meetings if pbx == citizen.pbx and at >= transfer["updated_at"]]
        return judged("completed") if back else judged("abandoned", f"returned, waiting at {citizen.pbx}")
    return judged("abandoned", f"during the hand-over (transfer {state})")


def account(citizens: list[Citizen], legs: dict[str, Leg | None], facts_: Facts,
            transfers: list[dict]) -> list[Verdict]:
    """One verdict per citizen, in order of arrival."""
    latest: dict[str, dict] = {}
    for row in sorted(transfers, key=lambda r: r["created_at"]):
        latest[row["caller_number"]] = row
    return [verdict(c, legs.get(c.number), facts_, latest.get(c.number)) for c in citizens]


def totals(verdicts: list[Verdict]) -> dict[str, int]:
    """The one-line accounting: offered, completed, transferred, returned, abandoned, dropped."""
    return {"offered": len(verdicts),
            "completed": sum(v.outcome == "completed" for v in verdicts),
            "transferred": sum(v.transferred for v in verdicts),
            "returned": sum(v.returned for v in verdicts),
            "abandoned": sum(v.outcome == "abandoned" for v in verdicts),
            "dropped": sum(v.outcome == "dropped" for v in verdicts)}


def one_line(verdicts: list[Verdict]) -> str:
    return " ".join(f"{key}={value}" for key, value in totals(verdicts).items())


def planned_but_kept(verdicts: list[Verdict]) -> int:
    """Citizens planned for a hand-over who ended at the first platform without one (hung up before the key)."""
    return sum(v.plan != TALK and not v.transfer for v in verdicts)
