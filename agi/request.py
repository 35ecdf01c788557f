"""What a route handler gets: the channel's `agi_*` environment, the route's
arguments, and awaitable channel commands whose values are always quoted.

Nothing here knows how bytes travel: FastAGI (Twisted) and classic AGI
(pyst2 over stdin/stdout) both hand a `send` coroutine to `AgiRequest`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import parse_qsl

from linkdesk.agi.reply import AgiReply
from linkdesk.bridge.core.errors import LinkdeskError


class AgiError(LinkdeskError):
    """A failure of the AGI exchange itself; the dialplan sees its `reason` as LINKDESK_REASON."""


SEPARATOR = "\x1f"                          # ASCII unit separator: get_variables' field separator
_PLAIN = re.compile(r"[A-Za-z0-9+._-]*")    # what set_variables passes to MSet


class UnsafeValue(AgiError):
    """A value holding CR, LF or NUL: refused, nothing is sent."""

    def __init__(self, what: str):
        super().__init__("agi-unsafe-value", f"{what} contains CR, LF or NUL; nothing was sent")


class ChannelGone(AgiError):
    def __init__(self) -> None:
        super().__init__("agi-channel-gone", "the channel hung up")


def _unsafe(text: str) -> bool:
    # Three plain `in` scans: quicker than a regular expression on short values.
    return "\r" in text or "\n" in text or "\x00" in text


def quote(value: object, what: str = "value") -> str:
    """One AGI argument: double-quoted, `\\` and `"` escaped; CR/LF/NUL refused."""
    text = str(value)
    if _unsafe(text):
        raise UnsafeValue(what)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def command_line(verb: str, *args: object) -> str:
    """`VERB "arg1" "arg2"`: the verb is ours (a constant), every argument quoted."""
    if _unsafe(verb):
        raise UnsafeValue("command")
    parts = [verb]
    for number, arg in enumerate(args, 1):
        try:
            parts.append(quote(arg))
        except UnsafeValue:
            raise UnsafeValue(f"argument {number}") from None
    return " ".join(parts)


def split_script(script: str) -> tuple[str, dict[str, str]]:
    """`route?a=1&b=2` from agi_network_script into ("route", {"a": "1", "b": "2"})."""
    route, _, query = script.partition("?")
    if not query:
        return route.strip("/"), {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise AgiError("agi-bad-arguments", f"malformed query {query[:80]!r}") from None
    args = dict(pairs)
    if len(args) != len(pairs):
        raise AgiError("agi-bad-arguments", "an argument is given twice")
    return route.strip("/"), args


Send = Callable[[str], Awaitable[AgiReply]]
SendLast = Callable[[str], Awaitable[None]]


@dataclass
class AgiRequest:
    """One AGI session as a handler sees it."""

    env: dict[str, str]
    route: str
    args: dict[str, str]
    send: Send = field(repr=False)
    send_last: SendLast | None = field(default=None, repr=False)

    @property
    def channel(self) -> str:
        return self.env.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    async def command(self, verb: str, *args: object) -> AgiReply:
        """Send one command and return its reply; AgiError on 510/511/520."""
        reply = await self.send(command_line(verb, *args))
        if reply.code == 511:
            raise ChannelGone()
        if not reply.ok:
            raise AgiError("agi-command-failed", f"{verb} failed: {reply.code} {reply.text[:120]}")
        return reply

    async def set_last_variable(self, name: str, value: object) -> None:
        """The session's last command. FastAGI sends it and closes without
        waiting for the reply, so the dialplan goes on one round trip sooner;
        Asterisk reads a command that arrived before the close."""
        line = command_line("SET VARIABLE", name, value)
        if self.send_last is None:
            await self.command("SET VARIABLE", name, value)
        else:
            await self.send_last(line)

    async def get_variable(self, name: str) -> str | None:
        """The variable's value (functions like CALLERID(num) too), None if unset."""
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == "1" else None

    async def set_variable(self, name: str, value: object) -> None:
        await self.command("SET VARIABLE", name, value)

    async def get_variables(self, names: list[str]) -> list[str]:
        """Several variables (or functions) in one round trip, '' for an unset
        one: GET FULL VARIABLE of them joined by the unit separator, which no
        SIP header or dialplan value of ours holds. AgiError
        ("agi-bad-reply") if a value held it: the reply does not split into
        as many values, and none of them is trusted."""
        reply = await self.command("GET FULL VARIABLE", SEPARATOR.join("${%s}" % name for name in names))
        values = (reply.data or "").split(SEPARATOR) if reply.result == "1" else []
        if len(values) != len(names):
            raise AgiError("agi-bad-reply", f"GET FULL VARIABLE of {len(names)} values gave {len(values)}")
        return values

    async def set_variables(self, pairs: list[tuple[str, str]]) -> None:
        """Several variables in one round trip (EXEC MSet). Only for values of
        letters, digits and `+._-`: MSet splits at commas and EXEC expands
        `${}`; anything else is refused (AgiError "agi-unsafe-value") before
        anything is sent."""
        for name, value in pairs:
            if not _PLAIN.fullmatch(value):
                raise AgiError("agi-unsafe-value", f"{name}: not a plain value for MSet; nothing was set")
        await self.command("EXEC", "MSet", ",".join(f"{name}={value}" for name, value in pairs))
