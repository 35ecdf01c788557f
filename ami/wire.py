"""AMI framing: bytes in, messages out; actions out as bytes, never with CR/LF.

Kept apart from any connection so that recorded traffic can be replayed
through it, and fast: the intake parses tens of thousands of events a second.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from linkdesk.bridge.core.errors import LinkdeskError

FRAME_END = b"\r\n\r\n"
FORBIDDEN = ("\r", "\n", "\x00")


class AmiError(LinkdeskError):
    """An AMI failure; each subclass names its stable id (`reason`), which
    HTTP, AGI and logs show alike."""

    reason = "ami-error"

    def __init__(self, message: str):
        super().__init__(type(self).reason, message)


class UnsafeAmiValue(AmiError):
    reason = "ami-unsafe-value"


class AmiMessage(dict):
    """One AMI event or response; `msg.Queue` reads a field ('' when absent)."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """The event's name, '' for a response."""
        return self.get("Event", "")

    def __getattr__(self, field: str) -> str:
        if field.startswith("__"):
            raise AttributeError(field)
        return self.get(field, "")


class FrameParser:
    """Splits the AMI byte stream into messages; keeps a partial frame between feeds."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[AmiMessage]:
        buffer = self._buffer + data if self._buffer else data
        frames = buffer.split(FRAME_END)
        self._buffer = frames.pop()
        return [message for frame in frames if (message := parse_frame(frame)) is not None]


def parse_frame(frame: bytes) -> AmiMessage | None:
    """One frame's headers; lines without `: ` (the banner, bodies) are skipped.
    A header given more than once (ChanVariable, Output) becomes a list."""
    message = AmiMessage()
    for line in frame.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        if key in message:
            previous = message[key]
            message[key] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            message[key] = value
    return message if ("Event" in message or "Response" in message) else None


def encode_action(fields: Mapping[str, str | int | Iterable[str]]) -> bytes:
    """An action's bytes; UnsafeAmiValue if any name or value holds CR, LF or NUL."""
    lines = []
    for key, value in fields.items():
        values = [value] if isinstance(value, (str, int)) else list(value)
        for item in values:
            text = str(item)
            check_safe(key, key)
            check_safe(text, key)
            lines.append(f"{key}: {text}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def check_safe(text: str, field: str) -> None:
    if any(char in text for char in FORBIDDEN):
        raise UnsafeAmiValue(f"AMI field {field!r} contains CR, LF or NUL; nothing was sent")
