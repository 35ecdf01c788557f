"""Queue metrics, computed exactly from AMI queue events.

Asterisk's own Prometheus module has no queue metrics, and no exporter
gives speed of answer, abandon rate or service level; this does. State is
kept per (pbx, queue) by `QueueBook.on_event` on the loop thread, under a
lock, and read by `QueueCollector.collect` on prometheus_client's scrape
thread. After every AMI login `resync` replaces the gauges' state (waiting
callers, members) from QueueStatus; counters are never rewound.

Outcomes of a caller who joined a queue:
- answered: AgentConnect (wait = its time since QueueCallerJoin);
- abandoned / timed out: Asterisk 22 sends QueueCallerAbandon for both, with
  the same fields. The channel's QUEUESTATUS tells them apart: it is set
  (TIMEOUT, LEAVEEMPTY, …) once Queue() returns to the dialplan, and left
  unset when the caller hung up; manager.conf `channelvars` puts it on the
  channel's next events, and the first (Soft)HangupRequest or Hangup after
  the Abandon decides.

Service level (`linkdesk_queue_service_level_ratio`), over the last
`window` seconds: answered within the queue's threshold ÷ (answered +
abandoned after the threshold). Field quirks honoured: RingTime is
milliseconds in AgentRingNoAnswer and seconds in AgentConnect.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from linkdesk.dialplan.contract import channel_variables

CHANNEL_EVENTS = ("HangupRequest", "SoftHangupRequest", "Hangup")
WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)
TALK_BUCKETS = (10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1200.0, 1800.0)
IN_CALL = {"2", "3", "7", "8"}          # in use, busy, ring+in use, on hold
LOGGED_OUT = {"4", "5"}                 # invalid, unavailable


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
        self.counts[next((i for i, bound in enumerate(self.bounds) if value <= bound), len(self.bounds))] += 1
        self.total += value

    def frozen(self) -> tuple[list[tuple[str, int]], float]:
        """(cumulative buckets, sum): a copy a scrape thread may read."""
        return self.buckets(), self.total

    def buckets(self) -> list[tuple[str, int]]:
        counts = self.counts or [0] * (len(self.bounds) + 1)
        running, out = 0, []
        for bound, count in zip([*map(str, self.bounds), "+Inf"], counts):
            running += count
            out.append((bound, running))
        return out


@dataclass
class Member:
    status: str = "1"
    paused: bool = False


@dataclass
class Queue:
    threshold: float = 0.0
    waiting: dict[str, float] = field(default_factory=dict)      # uniqueid → joined at
    joined: dict[str, float] = field(default_factory=dict)       # until answered or gone: for the wait
    members: dict[str, Member] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("entered", "answered", "abandoned", "timed_out", "ring_noanswer"), 0))
    wait: Histogram = field(default_factory=lambda: Histogram(WAIT_BUCKETS))
    talk: Histogram = field(default_factory=lambda: Histogram(TALK_BUCKETS))
    # How long members rang, by outcome: [count, seconds] (a summary keeps scrapes small)
    ring: dict[str, list] = field(default_factory=lambda: {"answered": [0, 0.0], "noanswer": [0, 0.0]})
    recent: deque = field(default_factory=deque)                 # (at, "answered"|"abandoned", wait)


class QueueBook:
    """Per (pbx, queue) state, fed by AMI events; thread-safe."""

    def __init__(self, window: float = 900.0, clock=time.time):
        self.window, self.clock = window, clock
        self.queues: dict[tuple[str, str], Queue] = {}
        self.undecided: dict[str, tuple[Queue, float, float]] = {}   # uniqueid → (queue, at, waited)
        self.lock = threading.Lock()

    def on_event(self, pbx: str, event: dict) -> None:
        if event.get("Event") in CHANNEL_EVENTS:
            self._decide(event)
            return
        handler = _HANDLERS.get(event.get("Event", ""))
        if handler is None or not event.get("Queue"):
            return
        with self.lock:
            queue = self.queues.setdefault((pbx, event["Queue"]), Queue())
            handler(self, queue, event, _at(event, self.clock))

    def _decide(self, event: dict) -> None:
        """An abandoned caller's next channel event: timed out if Queue()
        returned to the dialplan (QUEUESTATUS set), abandoned once the channel is gone."""
        uniqueid = event.get("Uniqueid", "")
        if uniqueid not in self.undecided:
            return
        status = channel_variables(event).get("QUEUESTATUS", "")
        if not status and event.get("Event") != "Hangup":
            return
        with self.lock:
            queue, at, waited = self.undecided.pop(uniqueid)
            if status:
                queue.counts["timed_out"] += 1
            else:
                queue.counts["abandoned"] += 1
                queue.recent.append((at, "abandoned", waited))

    def resync(self, pbx: str, events: list[dict]) -> None:
        """Waiting callers and members as QueueStatus reports them now."""
        with self.lock:
            for key in [key for key in self.queues if key[0] == pbx]:
                self.queues[key].waiting.clear()
                self.queues[key].members.clear()
            now = self.clock()
            for event in events:
                queue = self.queues.setdefault((pbx, event.get("Queue", "")), Queue())
                name = event.get("Event")
                if name == "QueueParams":
                    _set_threshold(queue, float(event.get("ServiceLevel") or 0))
                elif name == "QueueMember":
                    queue.members[_interface(event)] = Member(event.get("Status", "1"), event.get("Paused") == "1")
                elif name == "QueueEntry":
                    queue.waiting[event.get("Uniqueid", "")] = now - float(event.get("Wait") or 0)

    def snapshot(self) -> list[tuple[str, str, dict]]:
        """(pbx, queue, figures) for each queue, settled as of now."""
        with self.lock:
            now = self.clock()
            return [(pbx, name, self._figures(queue, now)) for (pbx, name), queue in sorted(self.queues.items())]

    def _figures(self, queue: Queue, now: float) -> dict:
        self._settle(queue, now)
        members = queue.members.values()
        logged_in = [m for m in members if m.status not in LOGGED_OUT]
        return {"waiting": len(queue.waiting),
                "longest_wait": max((now - t for t in queue.waiting.values()), default=0.0),
                "members_logged_in": len(logged_in), "members_paused": sum(m.paused for m in logged_in),
                "members_in_call": sum(m.status in IN_CALL for m in logged_in),
                "members_available": sum(m.status == "1" and not m.paused for m in logged_in),
                "counts": dict(queue.counts), "wait": queue.wait.frozen(), "talk": queue.talk.frozen(),
                "ring": {outcome: tuple(figures) for outcome, figures in queue.ring.items()},
                "threshold": queue.threshold, "service_level": self._service_level(queue, now)}

    def _settle(self, queue: Queue, now: float) -> None:
        # Callers who left without an answer or abandon (redirected, exit key) are forgotten in time.
        for uniqueid in [u for u, at in queue.joined.items() if now - at > 3600 and u not in queue.waiting]:
            del queue.joined[uniqueid]
        while queue.recent and queue.recent[0][0] < now - self.window:
            queue.recent.popleft()

    @staticmethod
    def _service_level(queue: Queue, now: float) -> float | None:
        within = sum(1 for _, kind, wait in queue.recent if kind == "answered" and wait <= queue.threshold)
        answered = sum(1 for _, kind, _ in queue.recent if kind == "answered")
        late_abandons = sum(1 for _, kind, wait in queue.recent if kind == "abandoned" and wait > queue.threshold)
        return within / (answered + late_abandons) if answered + late_abandons else None

    # -- one handler per event --------------------------------------------------
    def _join(self, queue: Queue, event: dict, at: float) -> None:
        queue.waiting[event.get("Uniqueid", "")] = at
        queue.joined[event.get("Uniqueid", "")] = at
        queue.counts["entered"] += 1

    def _leave(self, queue: Queue, event: dict, at: float) -> None:
        # Also sent just before AgentConnect: the outcome is told by the other events.
        queue.waiting.pop(event.get("Uniqueid", ""), None)

    def _abandon(self, queue: Queue, event: dict, at: float) -> None:
        uniqueid = event.get("Uniqueid", "")
        queue.waiting.pop(uniqueid, None)
        joined = queue.joined.pop(uniqueid, None)
        waited = at - joined if joined is not None else float(event.get("HoldTime") or 0)
        self.undecided[uniqueid] = (queue, at, waited)

    def _connect(self, queue: Queue, event: dict, at: float) -> None:
        uniqueid = event.get("Uniqueid", "")
        queue.waiting.pop(uniqueid, None)
        joined = queue.joined.pop(uniqueid, None)
        # Our own clock when we saw the join; Asterisk's HoldTime (whole seconds) otherwise.
        waited = at - joined if joined is not None else float(event.get("HoldTime") or 0)
        queue.counts["answered"] += 1
        queue.wait.observe(waited)
        _rang(queue, "answered", float(event.get("RingTime") or 0))           # seconds here
        queue.recent.append((at, "answered", waited))

    def _complete(self, queue: Queue, event: dict, at: float) -> None:
        queue.talk.observe(float(event.get("TalkTime") or 0))

    def _ring_noanswer(self, queue: Queue, event: dict, at: float) -> None:
        queue.counts["ring_noanswer"] += 1
        _rang(queue, "noanswer", float(event.get("RingTime") or 0) / 1000)    # milliseconds here

    def _member(self, queue: Queue, event: dict, at: float) -> None:
        member = queue.members.setdefault(_interface(event), Member())
        member.status = event.get("Status", member.status)
        member.paused = event.get("Paused", "1" if member.paused else "0") == "1"

    def _member_removed(self, queue: Queue, event: dict, at: float) -> None:
        queue.members.pop(_interface(event), None)

    def _params(self, queue: Queue, event: dict, at: float) -> None:
        _set_threshold(queue, float(event.get("ServiceLevel") or queue.threshold))


_HANDLERS = {"QueueCallerJoin": QueueBook._join, "QueueCallerLeave": QueueBook._leave,
             "QueueCallerAbandon": QueueBook._abandon, "AgentConnect": QueueBook._connect,
             "AgentComplete": QueueBook._complete, "AgentRingNoAnswer": QueueBook._ring_noanswer,
             "QueueMemberStatus": QueueBook._member, "QueueMemberAdded": QueueBook._member,
             "QueueMemberPause": QueueBook._member, "QueueMemberRemoved": QueueBook._member_removed,
             "QueueParams": QueueBook._params}


def _rang(queue: Queue, outcome: str, seconds: float) -> None:
    queue.ring[outcome][0] += 1
    queue.ring[outcome][1] += seconds


def _set_threshold(queue: Queue, threshold: float) -> None:
    """The queue's service-level threshold, also a bucket of its wait histogram
    (added while the histogram is still empty: counts are never redistributed)."""
    queue.threshold = threshold
    if threshold > 0 and threshold not in queue.wait.bounds and not queue.wait.counts:
        queue.wait = Histogram(tuple(sorted({*WAIT_BUCKETS, threshold})))


def _at(event: dict, clock) -> float:
    try:
        return float(event["Timestamp"])
    except (KeyError, ValueError):
        return clock()


def _interface(event: dict) -> str:
    return event.get("Interface") or event.get("StateInterface") or event.get("Location") or ""
