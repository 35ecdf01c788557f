"""Every AGI route linkdesk serves, built in this one place.

FastAGI and the classic `linkdesk-agi` entry point serve the same table.
"""

from __future__ import annotations

from functools import partial

from linkdesk.agi import handlers
from linkdesk.agi.routes import RouteTable


def build_route_table(transfers=None, on_non_police=None, orders=None) -> RouteTable:
    """The routes; `transfers` (a TransferService) is needed by the transfer
    routes, `on_non_police()` (the metrics' diversion count) by `non_police`,
    `orders` (an OrderService) by `conference_take`, both by `whisper_reject`."""
    table = RouteTable()
    table.add("ping", handlers.ping)
    table.add("inbound", handlers.inbound)
    table.add("conference_leave", handlers.conference_leave)
    if transfers is not None:
        table.add("transfer", partial(handlers.transfer, transfers))
        table.add("transfer_cancel", partial(handlers.transfer_cancel, transfers))
        table.add("consult", partial(handlers.consult, transfers))
    if orders is not None:
        table.add("conference_take", partial(handlers.conference_take, orders))
    if orders is not None and transfers is not None:
        table.add("whisper_reject", partial(handlers.whisper_reject, transfers, orders))
    if on_non_police is not None:
        table.add("non_police", partial(handlers.non_police, on_non_police))
    return table
