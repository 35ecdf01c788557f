"""The busy hour's timings, per hand-over: from the key press (the PBX's
DTMFEnd) to the receiving operator's INVITE (their phone's trace), split at
the moment the citizen joins the receiving queue (routing, then the queue's
wait), and linkdesk's own part (its store: request received → dialing). The
routing splits again where linkdesk's store saw it: key → request received
(the sending PBX's feature, Gosub and FastAGI connect), linkdesk, dialing →
the trunk call's channel at the receiving PBX (the Redirect, the Dial, the
INVITE) and that channel → queued (the receiving PBX's dialplan, with
linkdesk's inbound route). Each hand-over also counts the receiving
queue's free operators when the citizen joined it (its members'
QueueMemberStatus events) and the citizen's place in it, so the key →
INVITE of the hand-overs that met a free operator can be told from those
that waited for one."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

from linkdesk.bridge.lab.busy import trace

KEY_DIGIT = {"blind": "5", "warm": "6", "emergency": "9"}


@dataclass(frozen=True)
class HandOver:
    transfer_id: str
    key_to_invite: float | None     # s, key press → the receiver's INVITE
    key_to_queued: float | None     # s, key press → the citizen in the receiving queue
    queue_wait: float | None        # s, queued there → the receiver's INVITE
    linkdesk: float | None          # s, request received → the citizen moved (dialing)
    key_to_request: float | None    # s, key press → linkdesk's request received
    moved_to_arrived: float | None  # s, the citizen moved (dialing) → the trunk call's channel at the other PBX
    arrived_to_queued: float | None  # s, that channel → in the receiving queue
    free_at_join: int | None = None  # the receiving queue's free operators as the citizen joined it
    position: int | None = None      # the citizen's place in that queue then (1: first)


def hand_overs(transfers: list[dict], events: list[dict], operator_traces: dict[str, str],
               dialing: dict[str, float]) -> list[HandOver]:
    """One HandOver per transfer; `dialing`: transfer id → when it reached
    "dialing" (the store's timeline)."""
    invites = _receiver_invites(operator_traces)
    members = _MemberStates(events)
    seen = _Index(events)
    found = []
    for row in transfers:
        key = _key_press(row, seen)
        number, other = row["caller_number"], _other(row["pbx"])
        invite = next((at for at in invites.get((other, number), []) if key and at >= key), None)
        join = seen.first_after(other, "QueueCallerJoin", number, key)
        queued = join["at"] if join else None
        moved = dialing.get(row["id"])
        arrived = seen.first_after(other, "Newchannel", number, key)
        arrived = arrived["at"] if arrived else None
        found.append(HandOver(
            row["id"], _minus(invite, key), _minus(queued, key), _minus(invite, queued),
            _minus(moved, row.get("received_at")), _minus(row.get("received_at"), key),
            _minus(arrived, moved), _minus(queued, arrived),
            members.free(other, join.get("Queue", ""), queued) if join else None,
            int(join["Position"]) if join and str(join.get("Position", "")).isdigit() else None))
    return found


def met_a_free_operator(overs: list[HandOver]) -> list[HandOver]:
    """The hand-overs whose receiving queue had a free operator for the
    citizen as they joined it: as many free as callers up to and including
    them (a free operator goes to the caller ahead first)."""
    return [o for o in overs if o.free_at_join and o.position and o.free_at_join >= o.position]


class _MemberStates:
    """Each queue member's status over time, from QueueMemberStatus events.
    A member free (Status 1, not in use; not paused) is one the queue can
    ring at once. A member with no event yet counts as free: a busy hour
    starts with every channel hung up and every bench phone reachable."""

    def __init__(self, events: list[dict]):
        self._changes: dict[tuple[str, str], list[tuple[float, str, bool]]] = {}
        for e in events:
            if e.get("Event") == "QueueMemberStatus":
                free = e.get("Status") == "1" and e.get("Paused", "0") == "0"
                self._changes.setdefault((e["pbx"], e.get("Queue", "")), []).append((e["at"], e.get("Interface", ""), free))
        for changes in self._changes.values():
            changes.sort(key=lambda c: c[0])
        self._times = {where: [c[0] for c in changes] for where, changes in self._changes.items()}

    def free(self, pbx: str, queue: str, at: float) -> int:
        """How many members of `queue` on `pbx` were free at `at`."""
        changes = self._changes.get((pbx, queue), [])
        state = {interface: True for _, interface, _ in changes}
        for _, interface, free in changes[:bisect_right(self._times.get((pbx, queue), []), at)]:
            state[interface] = free
        return sum(state.values())


class _Index:
    """The events a hand-over's figures look up, grouped once (a soak's
    million events would otherwise be scanned for every hand-over): per PBX,
    event name and caller number, and the key presses per PBX and operator
    channel (see `presses`); each group in the order the events came."""

    def __init__(self, events: list[dict]):
        self.by_caller: dict[tuple[str, str, str], list[dict]] = {}
        for e in events:
            if e.get("CallerIDNum"):
                self.by_caller.setdefault((e["pbx"], e.get("Event", ""), e["CallerIDNum"]), []).append(e)
        self.digits = presses(events)

    def first_after(self, pbx: str, name: str, number: str, key: float | None) -> dict | None:
        """The first event `name` `pbx` told of for caller `number` at or after the key press."""
        return next((e for e in self.by_caller.get((pbx, name, number), []) if key and e["at"] >= key), None)


def presses(events: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Per (PBX, channel), each received digit once, as its first DTMFEnd
    with `begun`, when its DTMFBegin came (the End's own time if none did).
    A phone sends a digit's end packet three times; when they straggle in
    (a starved phone) Asterisk tells of the digit's end twice, 0.1-0.8 s
    apart, with no DTMFBegin between: one press, not two."""
    found: dict[tuple[str, str], list[dict]] = {}
    last: dict[tuple[str, str], dict] = {}
    for e in events:
        if e.get("Event") not in ("DTMFBegin", "DTMFEnd") or e.get("Direction") != "Received":
            continue
        where = (e["pbx"], e.get("Channel", ""))
        before = last.get(where)
        last[where] = e
        if e["Event"] == "DTMFBegin" or (before and before.get("Event") == "DTMFEnd" and before.get("Digit") == e.get("Digit")):
            continue
        begun = before["at"] if before and before.get("Event") == "DTMFBegin" and before.get("Digit") == e.get("Digit") else e["at"]
        found.setdefault(where, []).append({**e, "begun": begun})
    return found


def _other(pbx: str) -> str:
    return "12345" if pbx == "110" else "110"


def _minus(later: float | None, earlier: float | None) -> float | None:
    return later - earlier if later is not None and earlier is not None else None


def _key_press(row: dict, seen: _Index) -> float | None:
    """The first DTMFEnd of the key's last digit on the operator's channel, the last press before linkdesk heard of it."""
    digit = KEY_DIGIT["emergency"] if row["lane"] == "emergency" else KEY_DIGIT.get(row["mode"])
    received = row.get("received_at") or row["created_at"]
    pressed = [e["at"] for e in seen.digits.get((row["pbx"], row.get("operator_channel") or ""), [])
               if e.get("Digit") == digit and e["at"] <= received]
    return pressed[-1] if pressed else None


def _receiver_invites(operator_traces: dict[str, str]) -> dict[tuple[str, str], list[float]]:
    """Per (PBX, caller number), when each INVITE its bench operators were rung with for that caller came, in order."""
    found: dict[tuple[str, str], list[float]] = {}
    for name, text in operator_traces.items():
        side = name.split("/")[0]
        for message in trace.messages(text):
            if not message.sent and message.first_line.startswith("INVITE "):
                caller = message.header("From").split("sip:", 1)[-1].split("@", 1)[0]
                found.setdefault((side, caller), []).append(message.at)
    for times in found.values():
        times.sort()
    return found


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def key_accounting(events: list[dict], transfers: list[dict], digit_timeout: float = 1.0) -> dict:
    """Hand-over keys the bench operators pressed (`*` then 5 or 6 on 110, 9
    on 12345, each digit pressed once however often the PBX told of its
    end), transfers stored, keys refused (and why), and how the stored
    transfers ended: every key is one or the other. A key whose digit
    began more than `digit_timeout` s (features.conf's featuredigittimeout)
    after its `*` ended is no key to the PBX, and is counted apart (`late`)."""
    pressed = late = 0
    for (pbx, channel), digits in presses(events).items():
        if not re.match(r"PJSIP/(12|22)\d\d-", channel):
            continue
        for before, digit in zip([None, *digits], digits):
            if digit.get("Digit") not in {"110": ("5", "6"), "12345": ("9",)}.get(pbx, ()):
                continue
            if before is not None and before.get("Digit") == "*" and digit["begun"] - before["at"] > digit_timeout:
                late += 1
            else:
                pressed += 1
    refused = Counter(e.get("Reason", "?") for e in events if e.get("UserEvent") == "LinkdeskKeyRefused")
    return {"pressed": pressed, "late": late, "stored": len(transfers), "refused": refused,
            "ended": Counter(t["state"] for t in transfers)}
