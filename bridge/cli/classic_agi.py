"""`linkdesk-agi ROUTE[?args] [NAME=VALUE…]`: the classic (stdin/stdout) AGI
entry point, serving the same route table as FastAGI."""

from __future__ import annotations

from linkdesk.agi.classic import serve
from linkdesk.bridge.app.agi_routes import build_route_table


def main(argv: list[str] | None = None) -> int:
    return serve(build_route_table(), argv)
