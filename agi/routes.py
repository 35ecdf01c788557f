"""The route table, and the one way every AGI session ends.

A route is one small async function `handler(request)`. Whatever happens,
`run_route` leaves LINKDESK_RESULT (`ok` or `error`) and, on error,
LINKDESK_REASON on the channel while it is still there, and logs the reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from linkdesk.agi.request import AgiError, AgiRequest, ChannelGone
from linkdesk.bridge.core.errors import LinkdeskError
from linkdesk.dialplan.contract import REASON, RESULT

log = logging.getLogger("linkdesk.agi")

Handler = Callable[[AgiRequest], Awaitable[None]]


class DuplicateRoute(ValueError):
    """Two handlers for one route: refused at start-up."""


class RouteTable:
    """Route name → handler, filled in one visible place at start-up."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, route: str, handler: Handler) -> None:
        if route in self._handlers:
            raise DuplicateRoute(f"AGI route {route!r} is registered twice")
        if not route or "?" in route or "/" in route:
            raise ValueError(f"bad AGI route name {route!r}")
        self._handlers[route] = handler

    def get(self, route: str) -> Handler | None:
        return self._handlers.get(route)

    def __contains__(self, route: str) -> bool:
        return route in self._handlers


async def run_route(table: RouteTable, request: AgiRequest) -> str:
    """Run the request's handler and set the result variables; return the outcome id."""
    handler = table.get(request.route)
    try:
        if handler is None:
            raise AgiError("agi-unknown-route", f"no AGI route {request.route!r}")
        await handler(request)
        await request.set_last_variable(RESULT, "ok")
        return "ok"
    except ChannelGone:
        log.info("AGI %s on %s: agi-channel-gone", request.route, request.channel)
        return "agi-channel-gone"
    except LinkdeskError as exc:  # the AGI's own, or a service's: its stable id either way
        return await report_error(request, exc.reason, str(exc))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("AGI route %s failed", request.route)
        return await report_error(request, "internal-error", "unexpected error")


async def report_error(request: AgiRequest, reason: str, message: str) -> str:
    """Log `reason` and tell the dialplan; a channel that is gone is left alone."""
    log.warning("AGI %s on %s failed: %s (%s)", request.route or "-", request.channel or "-",
                reason, message)
    try:
        await request.set_variable(RESULT, "error")
        await request.set_last_variable(REASON, reason)
    except AgiError as exc:
        log.info("AGI %s: could not report %s: %s", request.route or "-", reason, exc.reason)
    return reason
