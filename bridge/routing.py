"""Every AGI route linkdesk serves, built in this one place.

FastAGI and the classic `linkdesk-agi` entry point serve the same table.
"""

from __future__ import annotations

from agi import handlers
from agi.routes import RouteTable


def build_route_table() -> RouteTable:
    table = RouteTable()
    table.add("ping", handlers.ping)
    return table
