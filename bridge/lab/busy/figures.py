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
    found = []
    for row in transfers:
        key = _key_press(row, events)
        number, other = row["caller_number"], _other(row["pbx"])
        invite = next((at for at, caller in invites.get(other, []) if caller == number and key and at >= key), None)
        join = _first_event_after(events, other, "QueueCallerJoin", number, key)
        queued = join["at"] if join else None
        moved = dialing.get(row["id"])
        arrived = _first_after(events, other, "Newchannel", number, key)
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


def _first_event_after(events: list[dict], pbx: str, name: str, number: str, key: float | None) -> dict | None:
    """The first event `name` `pbx` told of for caller `number` at or after the key press."""
    return next((e for e in events if e["pbx"] == pbx and e.get("Event") == name
                 and e.get("CallerIDNum") == number and key and e["at"] >= key), None)


def _first_after(events: list[dict], pbx: str, name: str, number: str, key: float | None) -> float | None:
    """When `pbx` first told of event `name` for caller `number` at or after the key press."""
    found = _first_event_after(events, pbx, name, number, key)
    return found["at"] if found else None


def _other(pbx: str) -> str:
    return "12345" if pbx == "110" else "110"


def _minus(later: float | None, earlier: float | None) -> float | None:
    return later - earlier if later is not None and earlier is not None else None


def _key_press(row: dict, events: list[dict]) -> float | None:
    """The DTMFEnd of the key's last digit on the operator's channel, the last one before linkdesk heard of it."""
    digit = KEY_DIGIT["emergency"] if row["lane"] == "emergency" else KEY_DIGIT.get(row["mode"])
    received = row.get("received_at") or row["created_at"]
    presses = [e["at"] for e in events if e["pbx"] == row["pbx"] and e.get("Event") == "DTMFEnd"
               and e.get("Direction") == "Received" and e.get("Channel") == row.get("operator_channel")
               and e.get("Digit") == digit and e["at"] <= received]
    return presses[-1] if presses else None


def _receiver_invites(operator_traces: dict[str, str]) -> dict[str, list[tuple[float, str]]]:
    """Per PBX, (when, caller number) of every INVITE its bench operators were rung with."""
    found: dict[str, list[tuple[float, str]]] = {}
    for name, text in operator_traces.items():
        side = name.split("/")[0]
        for message in trace.messages(text):
            if not message.sent and message.first_line.startswith("INVITE "):
                caller = message.header("From").split("sip:", 1)[-1].split("@", 1)[0]
                found.setdefault(side, []).append((message.at, caller))
    for side in found:
        found[side].sort()
    return found


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def key_accounting(events: list[dict], transfers: list[dict]) -> dict:
    """Hand-over keys the bench operators pressed (the last digit of *5 and *6
    on 110, *9 on 12345), transfers stored, keys refused (and why), and how
    the stored transfers ended: every key is one or the other."""
    pressed = sum(1 for e in events if e.get("Event") == "DTMFEnd" and e.get("Direction") == "Received"
                  and e.get("Digit") in ({"110": ("5", "6"), "12345": ("9",)}.get(e["pbx"], ()))
                  and re.match(r"PJSIP/(12|22)\d\d-", e.get("Channel", "")))
    refused = Counter(e.get("Reason", "?") for e in events if e.get("UserEvent") == "LinkdeskKeyRefused")
    return {"pressed": pressed, "stored": len(transfers), "refused": refused,
            "ended": Counter(t["state"] for t in transfers)}
