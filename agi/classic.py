"""`linkdesk-agi ROUTE [NAME=VALUE ...]`: classic AGI over stdin/stdout.

For sites that cannot use FastAGI. pyst2's `asterisk.agi.AGI` reads the
environment and watches for SIGHUP (so this runs in the main thread); the
commands, their quoting and the reply parsing are linkdesk's own, and the
handlers are the same as FastAGI's. Usage from a dialplan:
`AGI(linkdesk-agi,ping)` or `AGI(linkdesk-agi,transfer?to=12345&mode=blind)`.
"""

from __future__ import annotations

import asyncio
import os
import sys

from linkdesk.agi.reply import AgiReply, ReplyAssembler
from linkdesk.agi.request import AgiError, AgiRequest, ChannelGone, split_script
from linkdesk.agi.routes import RouteTable, report_error, run_route


class ClassicChannel:
    """Sends one command at a time on stdout and reads its reply from stdin."""

    def __init__(self, agi):
        self._agi = agi
        self._assembler = ReplyAssembler()

    async def send(self, command: str) -> AgiReply:
        if self._agi._got_sighup:
            raise ChannelGone()
        self._agi.stdout.write(command + "\n")
        self._agi.stdout.flush()
        while True:
            line = self._agi.stdin.readline()
            if not line:
                raise ChannelGone()
            line = line.rstrip("\r\n")
            if line == "HANGUP":
                continue
            reply = self._assembler.feed(line)
            if reply is not None:
                return reply


def parse_argv(argv: list[str]) -> tuple[str, dict[str, str]]:
    """`ROUTE[?a=1] [b=2 ...]` into the route and its arguments."""
    if not argv:
        raise AgiError("agi-unknown-route", "no route given to linkdesk-agi")
    route, args = split_script(argv[0])
    for extra in argv[1:]:
        name, sep, value = extra.partition("=")
        if not sep or not name or name in args:
            raise AgiError("agi-bad-arguments", f"bad argument {extra[:60]!r}")
        args[name] = value
    return route, args


async def _serve(agi, argv: list[str], table: RouteTable) -> str:
    env = {key: value for key, value in agi.env.items() if key.startswith("agi_")}
    request = AgiRequest(env=env, route="", args={}, send=ClassicChannel(agi).send)
    try:
        request.route, request.args = parse_argv(argv)
    except AgiError as exc:
        return await report_error(request, exc.reason, str(exc))
    return await run_route(table, request)


def serve(table: RouteTable, argv: list[str] | None = None) -> int:
    """Serve one classic AGI session on stdin/stdout with `table`'s routes."""
    from asterisk.agi import AGI

    # pyst2 narrates every line on stderr, which Asterisk logs; keep it quiet.
    agi = AGI(stdin=sys.stdin, stdout=sys.stdout, stderr=open(os.devnull, "w"))
    asyncio.run(_serve(agi, sys.argv[1:] if argv is None else argv, table))
    return 0
