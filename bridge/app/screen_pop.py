"""What the screen pop (`GET /v1/events`) tells a desk: the receiving
operator's phone rings with a handed-over citizen (`transfer.ringing`, before
they answer), the transfer is answered or comes back, orders move, people
join and leave rooms. Translated here from the store's and the PBXs' own
reports into the event log; a withheld number is shown as withheld."""

from __future__ import annotations

from linkdesk.bridge.core.events import EventLog
from linkdesk.bridge.core.ports import OrderStore

TRANSFER_KINDS = {"answered": "transfer.answered", "returned": "transfer.returned", "failed": "transfer.failed",
                  "cancelled": "transfer.cancelled", "abandoned": "transfer.abandoned"}


class ScreenPop:
    def __init__(self, log: EventLog, orders: OrderStore):
        self.log, self.orders = log, orders

    def ringing(self, transfer: dict, event) -> None:
        """A queue rings an operator (AgentCalled `event`) for a handed-over citizen."""
        order = self.orders.get(transfer["order_id"]) or {}
        self.log.publish("transfer.ringing", {transfer["pbx"], transfer["target"]}, {
            **_about(transfer), "summary": order.get("summary"),
            "extension": _extension(event.get("Interface") or event.get("DestChannel", "")),
            "queue": event.get("Queue")})

    def transfer_moved(self, transfer: dict, state: str, reason: str | None, at: float) -> None:
        if state in TRANSFER_KINDS:
            self.log.publish(TRANSFER_KINDS[state], {transfer["pbx"], transfer["target"]},
                             {**_about(transfer), "reason": reason})

    def order_recorded(self, order: dict, action: str, was: str | None) -> None:
        self.log.publish(f"order.{action}", {order["from_platform"], order["to_platform"]}, {
            "order_id": order["id"], "kind": order["kind"], "state": order["state"],
            "from_platform": order["from_platform"], "to_platform": order["to_platform"],
            "caller": _shown(order["caller_number"], order["caller_withheld"])})

    def room_event(self, conference_id: str, pbx: str, what: str, role: str | None) -> None:
        order = self.orders.get(conference_id) or {}
        platforms = {order.get("from_platform", pbx), order.get("to_platform", "")}
        self.log.publish(f"conference.{what}", platforms, {"conference_id": conference_id, "role": role})


def _about(transfer: dict) -> dict:
    return {"transfer_id": transfer["id"], "order_id": transfer["order_id"], "from_platform": transfer["pbx"],
            "to_platform": transfer["target"], "mode": transfer["mode"], "lane": transfer["lane"],
            "caller": _shown(transfer["caller_number"], transfer["caller_withheld"])}


def _shown(number: str | None, withheld) -> str:
    return "withheld" if withheld or not number else number


def _extension(interface: str) -> str:
    """`PJSIP/2101` (or a channel `PJSIP/2101-0000001a`, a `Local/2101@ctx/n`) → `2101`."""
    name = interface.split("/", 1)[-1].split("@", 1)[0]
    return name.rsplit("-", 1)[0] if "-" in name else name
