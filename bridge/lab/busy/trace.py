"""What a citizen's own phone saw, read from its sipp message trace: when it
called, when it was answered, and who ended the call, how and when."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_BLOCK = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n(\S+) message (sent|received)[^\n]*\n\n(.*?)(?=^-{10,} \d{4}-|\Z)",
                    re.M | re.S)


@dataclass(frozen=True)
class Message:
    at: float           # epoch seconds (the host's clock: the PBXs' AMI timestamps use the same)
    sent: bool          # True: the phone sent it; False: it received it
    first_line: str
    text: str

    def header(self, name: str) -> str:
        match = re.search(rf"^{name}:\s*(.+)$", self.text, re.M | re.I)
        return match.group(1).strip() if match else ""


@dataclass(frozen=True)
class Leg:
    """The citizen's call as their phone knew it. `ended_by`: "citizen" (their
    BYE), "gave-up" (their CANCEL, unanswered), "pbx" (the PBX's BYE),
    "refused <code>" (a final answer other than 200 to a call they had not
    given up on), or "unfinished" (still up, or the phone stopped)."""

    started: float
    answered: float | None
    ended: float | None
    ended_by: str


def messages(trace: str) -> list[Message]:
    """Every SIP message of a `-trace_msg` file, in order."""
    return [Message(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp(), m.group(3) == "sent",
                    m.group(4).split("\n", 1)[0].strip(), m.group(4))
            for m in _BLOCK.finditer(trace)]


def leg(trace: str) -> Leg | None:
    """The citizen's leg, or None when the phone sent nothing at all."""
    found = messages(trace)
    invite = next((m for m in found if m.sent and m.first_line.startswith("INVITE ")), None)
    if invite is None:
        return None
    answered = next((m.at for m in found if not m.sent and m.first_line.startswith("SIP/2.0 200")
                     and "INVITE" in m.header("CSeq")), None)
    for m in found:
        if m.sent and m.first_line.startswith("BYE "):
            return Leg(invite.at, answered, m.at, "citizen")
        if m.sent and m.first_line.startswith("CANCEL "):
            return Leg(invite.at, answered, m.at, "citizen" if answered else "gave-up")
        if not m.sent and m.first_line.startswith("BYE "):
            return Leg(invite.at, answered, m.at, "pbx")
        code = _final_failure(m)
        if code:
            return Leg(invite.at, answered, m.at, f"refused {code}")
    return Leg(invite.at, answered, None, "unfinished")


def _final_failure(m: Message) -> str:
    """The code of a final failure to the INVITE the phone received (not the 487 its CANCEL asked for)."""
    match = re.match(r"SIP/2.0 ([3-6]\d\d)", m.first_line)
    if m.sent or not match or "INVITE" not in m.header("CSeq"):
        return ""
    return match.group(1)
