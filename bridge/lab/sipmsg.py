"""SIP messages for the lab's own softphone (bridge/lab/softphone.py): parsing,
building requests and responses, the digest answer to a challenge, and the
phone's record of a call (Dialog) and of a request in flight.

Only what a phone on loopback UDP needs against Asterisk's PJSIP: no TCP, no
multipart bodies, one Via. Test gear, not product code.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

COMPACT = {"i": "Call-ID", "f": "From", "t": "To", "v": "Via", "m": "Contact", "l": "Content-Length",
           "c": "Content-Type", "r": "Refer-To", "o": "Event"}


@dataclass
class Message:
    """One SIP message: its start line, headers in order, and body."""

    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        """The request's method, or the method of the request a response answers."""
        return self.start.split(" ", 1)[0] if self.is_request else self.cseq[1]

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.start.split(" ", 2)[1])

    @property
    def call_id(self) -> str:
        return self.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.get("CSeq").partition(" ")
        return int(number or 0), method.strip()

    def get(self, name: str) -> str:
        """The first value of header `name` (case-insensitive), '' when absent."""
        return next(iter(self.all(name)), "")

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def text(self) -> str:
        body = self.body.encode()
        lines = [self.start, *(f"{k}: {v}" for k, v in self.headers if k.lower() != "content-length"),
                 f"Content-Length: {len(body)}"]
        return "\r\n".join(lines) + "\r\n\r\n" + self.body


def parse(data: bytes) -> Message | None:
    """A datagram as a Message; None for keep-alives and anything unreadable."""
    text = data.decode(errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    if not lines or not lines[0].strip() or " " not in lines[0]:
        return None
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip()
            headers.append((COMPACT.get(name, name), value.strip()))
    return Message(lines[0], headers, body)


def tag_of(value: str) -> str:
    """The tag parameter of a From or To value, '' when it has none."""
    found = re.search(r";\s*tag=([^;>\s]+)", value)
    return found.group(1) if found else ""


def uri_of(value: str) -> str:
    """The URI inside a name-addr (`"x" <sip:…>;p`) or of a bare addr-spec."""
    found = re.search(r"<([^>]+)>", value)
    return found.group(1) if found else value.split(";", 1)[0].strip()


def new_tag() -> str:
    return secrets.token_hex(6)


def branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def response(request: Message, status: int, reason: str, to_tag: str = "", contact: str = "",
             extra: tuple[tuple[str, str], ...] = (), body: str = "", method: str = "") -> Message:
    """The answer to `request`: its Via, From, To (with `to_tag` added if it has
    none), Call-ID and CSeq copied, as RFC 3261 says; `method`: the CSeq's
    method instead (the 487 that a CANCEL brings to its INVITE)."""
    to = request.get("To")
    if to_tag and not tag_of(to):
        to = f"{to};tag={to_tag}"
    headers = [*(("Via", via) for via in request.all("Via")), ("From", request.get("From")), ("To", to),
               ("Call-ID", request.call_id), ("CSeq", f"{request.cseq[0]} {method or request.cseq[1]}")]
    if contact:
        headers.append(("Contact", contact))
    headers += list(extra)
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return Message(f"SIP/2.0 {status} {reason}", headers, body)


def digest(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """The Authorization value answering a `Digest` challenge (MD5, with qop=auth if offered)."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.split(" ", 1)[1]))
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    answer = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm=MD5'
    if "auth" in params.get("qop", "").split(","):
        cnonce = secrets.token_hex(8)
        answer += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
        ha = _md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
    else:
        ha = _md5(f"{ha1}:{nonce}:{ha2}")
    if "opaque" in params:
        answer += f', opaque="{params["opaque"]}"'
    return answer + f', response="{ha}"'


def md5_challenge(message: Message) -> str:
    """The MD5 Digest challenge of a 401/407 (Asterisk may offer several algorithms)."""
    offered = message.all("WWW-Authenticate") + message.all("Proxy-Authenticate")
    return next((c for c in offered if "MD5" in c.upper() or "algorithm" not in c.lower()), offered[0])


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def sdp(port: int, version: int, direction: str = "sendrecv") -> str:
    """An audio offer or answer: PCMU and RFC 4733 events on 127.0.0.1:`port`."""
    return ("v=0\r\n" f"o=linkdesk-lab 4242 {version} IN IP4 127.0.0.1\r\n" "s=-\r\n" "c=IN IP4 127.0.0.1\r\n"
            "t=0 0\r\n" f"m=audio {port} RTP/AVP 0 101\r\n" "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n" "a=fmtp:101 0-15\r\n" f"a={direction}\r\n")


@dataclass
class Dialog:
    """One call of the phone. `state`: calling, early, confirmed, failed or ended."""

    call_id: str
    local: str                  # our From (UAC) or To (UAS) value, with our tag
    remote: str                 # theirs; its tag once known
    target: str                 # where in-dialog requests go (the other side's Contact)
    incoming: bool
    state: str = "calling"
    final: int = 0              # the final answer to our INVITE
    cseq: int = 1
    notifies: list[str] = field(default_factory=list)
    replies: dict[int, int] = field(default_factory=dict)   # our in-dialog requests' CSeq → final status

    @property
    def local_tag(self) -> str:
        return tag_of(self.local)

    @property
    def remote_tag(self) -> str:
        return tag_of(self.remote)


@dataclass
class Pending:
    """A request of ours still waiting for its final answer (or our 200 for its ACK)."""

    data: bytes
    dialog: Dialog | None
    request: Message
    sent_at: float
    tries: int = 1
    answered: bool = False
