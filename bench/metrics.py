"""The metrics intake and a scrape, measured.

1. AMI queue events per second through the whole intake: bytes framed by
   linkdesk's parser, dispatched by the event bus, folded into the queue
   book. The stream is the recorded lab call's queue events, repeated with
   fresh unique ids. Target: ≥ 50,000 events/s on one core.
2. The time for one scrape (`generate_latest`) with 50 queues and 500
   members, callers waiting and histograms filled. Target: under 20 ms.

    .venv/bin/python bench/metrics.py [--calls 20000] [--scrapes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from linkdesk.ami.events import EventBus  # noqa: E402
from linkdesk.bridge.app.heap import settle_heap  # noqa: E402
from linkdesk.ami.wire import FrameParser, parse_frame  # noqa: E402
from linkdesk.metrics.collectors import QueueCollector  # noqa: E402
from linkdesk.metrics.queues import CHANNEL_EVENTS, QueueBook  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ami" / "lab110-queue-call.ami"
QUEUE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "AgentCalled", "AgentConnect", "AgentComplete",
                "QueueMemberStatus")


def call_frames() -> list[bytes]:
    """The recorded call's queue events (not the QueueStatus replies), as frames."""
    frames = FIXTURE.read_bytes().split(b"\r\n\r\n")
    return [frame for frame in frames if (message := parse_frame(frame)) is not None
            and message.get("Event") in QUEUE_EVENTS and "ActionID" not in message]


def stream(calls: int) -> tuple[bytes, int]:
    frames = call_frames()
    uniqueid = parse_frame(frames[0])["Uniqueid"].encode()
    chunks = []
    for n in range(calls):
        fresh = f"bench-{n}".encode()
        chunks.extend(frame.replace(uniqueid, fresh) + b"\r\n\r\n" for frame in frames)
    return b"".join(chunks), calls * len(frames)


def intake_rate(calls: int) -> float:
    data, events = stream(calls)
    book = QueueBook()
    bus = EventBus(asyncio.new_event_loop())
    for pattern in ("Queue*", "Agent*", *CHANNEL_EVENTS):
        bus.subscribe(pattern, partial(book.on_event, "110"))
    parser = FrameParser()
    started = time.process_time()
    for offset in range(0, len(data), 4096):
        for message in parser.feed(data[offset:offset + 4096]):
            bus.publish(message)
    elapsed = time.process_time() - started
    answered = sum(figures["counts"]["answered"] for _, _, figures in book.snapshot())
    assert answered == calls, f"{answered} answered, expected {calls}"
    return events / elapsed


def scrape_times(scrapes: int) -> list[float]:
    book = QueueBook()
    for q in range(50):
        queue = f"queue-{q:02d}"
        book.on_event("110", {"Event": "QueueParams", "Queue": queue, "ServiceLevel": "20"})
        for m in range(10):
            book.on_event("110", {"Event": "QueueMemberStatus", "Queue": queue, "Interface": f"PJSIP/{q}{m:02d}",
                                  "Status": str(1 + m % 3), "Paused": "0"})
        for c in range(40):
            uid = f"{queue}-{c}"
            book.on_event("110", {"Event": "QueueCallerJoin", "Queue": queue, "Uniqueid": uid, "Timestamp": "100"})
            if c % 4:
                book.on_event("110", {"Event": "AgentConnect", "Queue": queue, "Uniqueid": uid,
                                      "Timestamp": str(100 + c), "RingTime": "3"})
                book.on_event("110", {"Event": "AgentComplete", "Queue": queue, "Uniqueid": uid, "TalkTime": str(c * 9)})
    registry = CollectorRegistry()
    registry.register(QueueCollector(book))
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        generate_latest(registry)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    settle_heap()   # as `linkdesk serve` does once the process is wired
    rate = intake_rate(args.calls)
    times = scrape_times(args.scrapes)
    print(f"Metrics intake: {args.calls} recorded calls' queue events, framed, dispatched and counted on one core")
    print(f"  {rate:,.0f} events/s ({1e6 / rate:.1f} µs/event); target ≥ 50,000 events/s: "
          f"{'met' if rate >= 50_000 else 'NOT met'} ({rate / 50_000:.2f}×)")
    p50, worst = statistics.median(times) * 1000, max(times) * 1000
    print(f"Scrape of 50 queues, 500 members: p50 {p50:.2f} ms, worst {worst:.2f} ms of {args.scrapes}; "
          f"target < 20 ms: {'met' if worst < 20 else 'NOT met'} ({worst / 20:.2f}× the budget)")


if __name__ == "__main__":
    main()
