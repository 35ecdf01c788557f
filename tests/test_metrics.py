"""Queue metrics from AMI events, read from a fresh registry each test: a
recorded lab call, then the outcomes and quirks one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from linkdesk.ami.wire import FrameParser
from linkdesk.metrics.collectors import QueueCollector
from linkdesk.metrics.linkage import LinkageMetrics
from linkdesk.metrics.queues import QueueBook

FIXTURE = Path(__file__).parent / "fixtures" / "ami" / "lab110-queue-call.ami"
Q = {"pbx": "110", "queue": "110-intake"}


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _registry(book: QueueBook) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(QueueCollector(book))
    return registry


def test_a_recorded_lab_call_is_one_entered_one_answered_with_its_wait_and_talk():
    events = FrameParser().feed(FIXTURE.read_bytes())
    last = max(float(e["Timestamp"]) for e in events if "Timestamp" in e)
    book = QueueBook(clock=Clock(last + 10))
    book.resync("110", [e for e in events if e.get("ActionID") and e.get("Event", "").startswith("Queue")])
    for event in events:
        if not event.get("ActionID"):
            book.on_event("110", event)
    registry = _registry(book)
    value = registry.get_sample_value
    assert value("linkdesk_queue_calls_entered_total", Q) == 1
    assert value("linkdesk_queue_calls_answered_total", Q) == 1
    assert value("linkdesk_queue_calls_timed_out_total", Q) == 0
    assert value("linkdesk_queue_callers_waiting", Q) == 0
    assert value("linkdesk_queue_wait_seconds_count", Q) == 1
    assert 0 < value("linkdesk_queue_wait_seconds_sum", Q) < 1, "joined .988, answered .294 a second later"
    assert value("linkdesk_queue_wait_seconds_bucket", {**Q, "le": "20.0"}) == 1, "the threshold is a bucket"
    assert value("linkdesk_queue_talk_seconds_count", Q) == 1
    assert value("linkdesk_queue_service_level_threshold_seconds", Q) == 20
    assert value("linkdesk_queue_service_level_ratio", Q) == 1.0


def _caller(book, name: str, uid: str, at: float, queue: str = "110-intake", **fields):
    book.on_event("110", {"Event": name, "Queue": queue, "Uniqueid": uid, "Timestamp": str(at), **fields})


def test_abandoned_timed_out_and_waiting_callers_are_told_apart():
    clock = Clock(1050.0)
    book = QueueBook(clock=clock)
    _caller(book, "QueueParams", "", 999, ServiceLevel="20")
    for uid in ("a", "b", "c", "d"):
        _caller(book, "QueueCallerJoin", uid, 1000)
    _caller(book, "QueueCallerAbandon", "a", 1030, HoldTime="30")     # the caller hung up…
    _caller(book, "QueueCallerLeave", "a", 1030)
    book.on_event("110", {"Event": "SoftHangupRequest", "Uniqueid": "a", "ChanVariable": ["QUEUESTATUS="]})
    book.on_event("110", {"Event": "Hangup", "Uniqueid": "a", "ChanVariable": ["QUEUESTATUS="]})
    _caller(book, "QueueCallerAbandon", "b", 1040, HoldTime="40")     # a queue timeout, reported as abandon
    _caller(book, "QueueCallerLeave", "b", 1040)
    book.on_event("110", {"Event": "SoftHangupRequest", "Uniqueid": "b", "ChanVariable": ["QUEUESTATUS=TIMEOUT"]})
    book.on_event("110", {"Event": "Hangup", "Uniqueid": "b", "ChanVariable": ["QUEUESTATUS=TIMEOUT"]})
    _caller(book, "QueueCallerLeave", "c", 1010)                      # Leave comes just before Connect
    _caller(book, "AgentConnect", "c", 1010, HoldTime="10", RingTime="3")
    value = _registry(book).get_sample_value
    assert value("linkdesk_queue_calls_timed_out_total", Q) == 1
    assert value("linkdesk_queue_calls_abandoned_total", Q) == 1
    assert value("linkdesk_queue_calls_answered_total", Q) == 1
    assert value("linkdesk_queue_wait_seconds_sum", Q) == 10
    assert value("linkdesk_queue_callers_waiting", Q) == 1
    assert value("linkdesk_queue_longest_wait_seconds", Q) == 50
    # 1 answered within 20 s; 1 abandoned after 20 s: 1 / (1 + 1)
    assert value("linkdesk_queue_service_level_ratio", Q) == 0.5


def test_ring_time_is_milliseconds_on_no_answer_and_seconds_on_connect():
    book = QueueBook(clock=Clock())
    _caller(book, "AgentRingNoAnswer", "x", 1000, RingTime="15000")
    _caller(book, "AgentConnect", "y", 1000, RingTime="4", HoldTime="4")
    value = _registry(book).get_sample_value
    assert value("linkdesk_queue_ring_seconds_sum", {**Q, "outcome": "noanswer"}) == 15
    assert value("linkdesk_queue_ring_seconds_sum", {**Q, "outcome": "answered"}) == 4
    assert value("linkdesk_queue_calls_ring_noanswer_total", Q) == 1


def test_members_by_state_and_a_resync_replaces_the_gauges_but_not_the_counters():
    book = QueueBook(clock=Clock())
    for interface, status, paused in (("PJSIP/1", "1", "0"), ("PJSIP/2", "2", "0"), ("PJSIP/3", "1", "1"),
                                      ("PJSIP/4", "5", "0")):
        book.on_event("110", {"Event": "QueueMemberStatus", "Queue": "110-intake", "Interface": interface,
                              "Status": status, "Paused": paused})
    _caller(book, "QueueCallerJoin", "w", 990)
    value = _registry(book).get_sample_value
    members = {state: value("linkdesk_queue_members", {**Q, "state": state})
               for state in ("logged_in", "available", "paused", "in_call")}
    assert members == {"logged_in": 3, "available": 1, "paused": 1, "in_call": 1}
    book.resync("110", [{"Event": "QueueMember", "Queue": "110-intake", "Location": "PJSIP/1", "Status": "1",
                         "Paused": "0"},
                        {"Event": "QueueEntry", "Queue": "110-intake", "Uniqueid": "v", "Wait": "7"},
                        {"Event": "QueueEntry", "Queue": "110-intake", "Uniqueid": "z", "Wait": "3"}])
    assert value("linkdesk_queue_members", {**Q, "state": "logged_in"}) == 1
    assert value("linkdesk_queue_callers_waiting", Q) == 2
    assert value("linkdesk_queue_longest_wait_seconds", Q) == 7
    assert value("linkdesk_queue_calls_entered_total", Q) == 1, "counters are never rewound"


@pytest.mark.parametrize("diversion, marks, expected", [("transfer", 0, 0.5), ("disposition", 4, 0.25)])
def test_the_diversion_ratio_follows_the_configured_marking(diversion, marks, expected):
    registry = CollectorRegistry()
    linkage = LinkageMetrics(registry, diversion=diversion)
    transfer = {"pbx": "110", "target": "12345", "mode": "blind", "lane": "normal", "received_at": 1.0,
                "created_at": 1.0}
    for _ in range(2):
        linkage.transfer_moved(transfer, "requested", None, 1.0)
    linkage.transfer_moved(transfer, "answered", None, 3.5)
    linkage.transfer_moved(transfer, "completed", "handed over", 3.5)
    for _ in range(marks):
        linkage.marked_non_police()
    value = registry.get_sample_value
    assert value("linkdesk_diversion_ratio") == expected
    assert value("linkdesk_transfers_total", {"direction": "110_to_12345", "pbx": "110", "mode": "blind",
                                              "lane": "normal", "result": "completed"}) == 1
    assert value("linkdesk_transfer_setup_seconds_sum", {"direction": "110_to_12345", "pbx": "110",
                                                         "mode": "blind", "lane": "normal", "stage": "answer"}) == 2.5


class Link:
    def __init__(self, logged_in: bool, logins: int):
        self.logged_in, self.logins = logged_in, logins


class Agi:
    active = 3


def test_transport_metrics_read_the_links_and_count_what_they_are_told():
    from linkdesk.metrics.transports import TransportGauges, TransportMetrics

    registry = CollectorRegistry()
    observer = TransportMetrics(registry)
    registry.register(TransportGauges({"110": Link(True, 3), "12345": Link(False, 1)}, Agi()))
    observer.ami_action("110", "Redirect", 0.002, ok=False)
    observer.ami_action("110", "Setvar", 0.001, ok=True)
    observer.agi_session("transfer", "ok")
    observer.agi_command(0.0004)
    value = registry.get_sample_value
    assert value("linkdesk_ami_connected", {"pbx": "110"}) == 1 and value("linkdesk_ami_connected", {"pbx": "12345"}) == 0
    assert value("linkdesk_ami_reconnects_total", {"pbx": "110"}) == 2
    assert value("linkdesk_ami_action_errors_total", {"pbx": "110", "action": "Redirect"}) == 1
    assert value("linkdesk_ami_action_seconds_count", {"pbx": "110"}) == 2
    assert value("linkdesk_agi_sessions_active") == 3
    assert value("linkdesk_agi_sessions_total", {"route": "transfer", "result": "ok"}) == 1
    assert value("linkdesk_agi_command_seconds_count") == 1


def test_the_orders_gauge_follows_every_move_and_matches_the_store(tmp_path):
    from linkdesk.bridge.core.orders import OrderService
    from linkdesk.bridge.store.database import open_store

    path = tmp_path / "m.db"
    old = OrderService(open_store(path).orders, {"110", "12345"}).create("110", {"to": "12345"})["order"]
    registry = CollectorRegistry()          # metrics start after that first order was made
    linkage = LinkageMetrics(registry)
    store = open_store(path, order_listeners=[linkage.order_recorded])
    linkage.orders_loaded(store.orders.counts())
    service = OrderService(store.orders, {"110", "12345"})
    new = service.create("12345", {"to": "110", "kind": "police"})["order"]
    service.act("12345", old["id"], "accept", 1)
    service.act("12345", old["id"], "feedback", 2, "on the way")
    service.act("110", new["id"], "reject", 1, "not ours")
    gauge = {(kind, state): registry.get_sample_value("linkdesk_orders", {"kind": kind, "state": state})
             for kind, state, _ in store.orders.counts()}
    assert gauge == {(kind, state): count for kind, state, count in store.orders.counts()}
    assert registry.get_sample_value("linkdesk_orders", {"kind": "work", "state": "created"}) == 0
    assert registry.get_sample_value("linkdesk_order_acceptance_seconds_count", {"kind": "work"}) == 1
