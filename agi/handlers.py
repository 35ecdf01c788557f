"""The thin route handlers: parse arguments, call a service, report.

Each is one small async function; the deciding happens in `bridge/`.
"""

from __future__ import annotations

from agi.request import AgiRequest


async def ping(request: AgiRequest) -> None:
    """Proves the AGI path from a dialplan: LINKDESK_PING = `pong <caller number>`."""
    number = await request.get_variable("CALLERID(num)")
    await request.set_variable("LINKDESK_PING", f"pong {number or ''}".rstrip())
