"""AGI replies as Asterisk writes them: `200 result=N (data) endpos=M`, 510,
511, the multi-line 520 usage block, and the out-of-band `HANGUP` line."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RESULT = re.compile(r"result=(?P<result>-?\d*)(?:\s+\((?P<data>.*)\))?(?:\s+endpos=(?P<endpos>\d+))?\s*$")


@dataclass(slots=True)
class AgiReply:
    """One complete reply to one AGI command."""

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200


class ReplyFormatError(ValueError):
    """A line that is not a reply Asterisk would send."""


class ReplyAssembler:
    """Feeds lines in, gets whole replies out; `HANGUP` lines are reported apart."""

    def __init__(self) -> None:
        self._usage: list[str] | None = None

    def feed(self, line: str) -> AgiReply | None:
        """The reply `line` completes, or None while a 520 block is still open."""
        if self._usage is not None:
            if line.startswith("520 "):
                usage, self._usage = self._usage, None
                return AgiReply(code=520, text="\n".join(usage))
            self._usage.append(line)
            return None
        if line.startswith("520-"):
            self._usage = [line[4:]]
            return None
        return parse_status_line(line)


def parse_status_line(line: str) -> AgiReply:
    """A single-line reply: 200 with its result, data and endpos, or an error code."""
    if line.startswith("200 result="):
        reply = _plain_200(line)
        if reply is not None:
            return reply
    code_text, _, rest = line.partition(" ")
    if len(code_text) != 3 or not code_text.isdigit():
        raise ReplyFormatError(f"not an AGI reply: {line[:80]!r}")
    code = int(code_text)
    if code != 200:
        return AgiReply(code=code, text=rest)
    match = _RESULT.match(rest)
    if match is None:
        raise ReplyFormatError(f"200 reply without result=: {line[:80]!r}")
    endpos = match.group("endpos")
    return AgiReply(code=200, result=match.group("result"), data=match.group("data"),
                    endpos=int(endpos) if endpos else None, text=rest)


def _plain_200(line: str) -> AgiReply | None:
    """The common replies, `200 result=N` and `200 result=N (data)`, without the
    regular expression; None for anything else (endpos, odd spacing)."""
    rest = line[11:]
    if " " not in rest:
        return AgiReply(code=200, result=rest, text=line[4:])
    result, sep, data = rest.partition(" (")
    if sep and data.endswith(")") and " " not in result and "endpos=" not in data:
        return AgiReply(code=200, result=result, data=data[:-1], text=line[4:])
    return None
