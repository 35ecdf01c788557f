"""Linkage metrics: transfers, returns, conferences, orders, the emergency
lane and the diversion ratio. The core reports through plain callbacks
(`transfer_moved`, `order_recorded`, conference events); this adapter turns
them into prometheus_client metrics, which are thread-safe."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SETUP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
LONG_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0)
FINAL = ("completed", "returned", "failed", "cancelled", "abandoned")


class LinkageMetrics:
    def __init__(self, registry: CollectorRegistry, diversion: str = "transfer",
                 police: Callable[[str], bool] = lambda pbx: pbx == "110",
                 diverted: Callable[[str, str], bool] = lambda pbx, target: pbx == "110" and target == "12345",
                 platform_of: Callable[[str], str] = lambda pbx: pbx):
        """`police(pbx)`: a police platform's PBX, whose calls may be non-police;
        `diverted(pbx, target)`: a hand-over that diverts a non-police call;
        `platform_of(pbx)`: the platform a PBX runs. A transfer's `direction`
        is platform to platform ("110_to_12345", whichever of 110's PBXs sent
        it); its `pbx` label is the sending PBX."""
        self.diversion, self.police, self.diverted_to = diversion, police, diverted
        self.platform_of = platform_of
        direction = ["direction", "pbx", "mode", "lane"]
        self.transfers = Counter("linkdesk_transfers", "Transfers by how they ended",
                                 [*direction, "result"], registry=registry)
        self.setup = Histogram("linkdesk_transfer_setup_seconds", "From the transfer request to the receiver "
                               "ringing (stage=ringing) and answering (stage=answer)", [*direction, "stage"],
                               buckets=SETUP_BUCKETS, registry=registry)
        self.returns = Counter("linkdesk_transfer_returns", "Citizens brought back to the first operator",
                               ["direction", "pbx", "reason"], registry=registry)
        self.emergency = Histogram("linkdesk_emergency_answer_seconds", "Emergency lane: request to answer by 110",
                                   buckets=SETUP_BUCKETS, registry=registry)
        self.conferences = Gauge("linkdesk_conferences_active", "Three-way calls running", ["pbx"], registry=registry)
        self.conference_duration = Histogram("linkdesk_conference_duration_seconds", "How long three-way calls "
                                             "lasted", ["pbx"], buckets=LONG_BUCKETS, registry=registry)
        self.orders = Gauge("linkdesk_orders", "Orders by kind and state", ["kind", "state"], registry=registry)
        self.acceptance = Histogram("linkdesk_order_acceptance_seconds", "From an order's creation to its "
                                    "acceptance", ["kind"], buckets=LONG_BUCKETS, registry=registry)
        self.escalations = Counter("linkdesk_order_escalations", "Orders not accepted by their deadline",
                                   ["kind", "priority"], registry=registry)
        self.non_police = Counter("linkdesk_non_police_calls", "Calls to 110 marked as not police matters "
                                  f"(marked by: {diversion})", registry=registry)
        self.diverted = Counter("linkdesk_diverted_calls", "Non-police calls handed on to a service platform (12345)", registry=registry)
        self.ratio = Gauge("linkdesk_diversion_ratio", "Diverted ÷ non-police calls", registry=registry)
        self._counted = {"non_police": 0, "diverted": 0}

    def transfer_moved(self, transfer: dict, state: str, reason: str | None, at: float) -> None:
        """A transfer changed state at `at` (the store says so)."""
        labels = (*self._direction(transfer), transfer["mode"], transfer["lane"])
        started = transfer.get("received_at") or transfer["created_at"]
        if state == "requested" and self.police(transfer["pbx"]) and self.diversion == "transfer":
            self._count("non_police", self.non_police)
        elif state == "answered":
            self.setup.labels(*labels, "answer").observe(max(0.0, at - started))
            if transfer["lane"] == "emergency":
                self.emergency.observe(max(0.0, at - started))
        elif state == "returned":
            self.returns.labels(*labels[:2], reason or "unknown").inc()
        if state in FINAL:
            self.transfers.labels(*labels, state).inc()
        if state == "completed" and self.diverted_to(transfer["pbx"], transfer["target"]):
            self._count("diverted", self.diverted)

    def receiver_ringing(self, transfer: dict, at: float) -> None:
        labels = (*self._direction(transfer), transfer["mode"], transfer["lane"], "ringing")
        self.setup.labels(*labels).observe(max(0.0, at - (transfer.get("received_at") or transfer["created_at"])))

    def _direction(self, transfer: dict) -> tuple[str, str]:
        """The `direction` and `pbx` labels of `transfer`."""
        return f"{self.platform_of(transfer['pbx'])}_to_{transfer['target']}", transfer["pbx"]

    def marked_non_police(self) -> None:
        """The operator's disposition key said: not a police matter."""
        if self.diversion == "disposition":
            self._count("non_police", self.non_police)

    def orders_loaded(self, counts: list[tuple[str, str, int]]) -> None:
        """The orders by kind and state as the store holds them at start-up."""
        for kind, state, count in counts:
            self.orders.labels(kind, state).set(count)

    def order_recorded(self, order: dict, action: str, was: str | None) -> None:
        """An order event: the gauges follow its move from `was` (None: new) to its state now."""
        if was != order["state"]:
            if was is not None:
                self.orders.labels(order["kind"], was).dec()
            self.orders.labels(order["kind"], order["state"]).inc()
        if action == "accepted" and order.get("accepted_at"):
            self.acceptance.labels(order["kind"]).observe(max(0.0, order["accepted_at"] - order["created_at"]))
        elif action == "escalated":
            self.escalations.labels(order["kind"], order.get("priority") or "normal").inc()

    def conference_changed(self, pbx: str, active: int, ended_after: float | None) -> None:
        self.conferences.labels(pbx).set(active)
        if ended_after is not None:
            self.conference_duration.labels(pbx).observe(ended_after)

    def _count(self, name: str, counter: Counter) -> None:
        counter.inc()
        self._counted[name] += 1
        calls = self._counted["non_police"]
        self.ratio.set(self._counted["diverted"] / calls if calls else 0.0)
