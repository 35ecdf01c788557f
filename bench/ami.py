"""AMI intake: events/s parsed and dispatched, linkdesk against panoramisk.

Both read the same recorded lab stream (tests/fixtures/ami/), replayed many
times in 4 KiB chunks as a socket delivers it, into one subscriber of every
event. One process, one core, CPU time.

    .venv/bin/python bench/ami.py [--repeat 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from panoramisk import Manager  # noqa: E402
from panoramisk.ami_protocol import AMIProtocol  # noqa: E402

from linkdesk.ami.events import EventBus  # noqa: E402
from linkdesk.ami.protocol import AmiProtocol  # noqa: E402

RECORDED = Path(__file__).resolve().parents[1] / "tests/fixtures/ami/lab110-queue-call.ami"
CHUNK = 4096


class _Transport:
    def write(self, data):
        pass

    def close(self):
        pass


def chunks(repeat: int) -> list[bytes]:
    # Replay what follows the login (banner, login reply, FullyBooted): those
    # come once per connection, and panoramisk starts a task on FullyBooted.
    recorded = RECORDED.read_bytes()
    booted = recorded.index(b"Event: FullyBooted")
    stream = recorded[recorded.index(b"\r\n\r\n", booted) + 4:] * repeat
    return [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]


def run_linkdesk(data: list[bytes], loop) -> tuple[int, float]:
    seen = [0]
    bus = EventBus(loop)
    bus.subscribe("*", lambda event: seen.__setitem__(0, seen[0] + 1))

    class Factory:
        dispatch_event = staticmethod(bus.publish)

    protocol = AmiProtocol()
    protocol.connection_made(_Transport())
    protocol.factory = Factory()
    started = time.process_time()
    for chunk in data:
        protocol.data_received(chunk)
    return seen[0], time.process_time() - started


def run_panoramisk(data: list[bytes], loop) -> tuple[int, float]:
    seen = [0]
    manager = Manager(loop=loop)
    manager.register_event("*", lambda _manager, event: seen.__setitem__(0, seen[0] + 1))
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    protocol.factory, protocol.encoding, protocol.version = manager, "utf8", "11.0.0"
    started = time.process_time()
    for chunk in data:
        protocol.data_received(chunk)
    return seen[0], time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3000)
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    data = chunks(args.repeat)
    results = {}
    for name, run in (("linkdesk", run_linkdesk), ("panoramisk", run_panoramisk)):
        run(data[:50], loop)  # warm-up
        results[name] = run(data, loop)
    ours, theirs = results["linkdesk"], results["panoramisk"]
    assert ours[0] == theirs[0], f"event counts differ: {ours[0]} against {theirs[0]}"
    print(f"AMI intake, {ours[0]} events ({args.repeat} replays of {RECORDED.name}), {CHUNK}-byte chunks\n")
    for name, (events, seconds) in results.items():
        print(f"{name:<11}{events / seconds:>12,.0f} events/s   {seconds * 1e6 / events:6.2f} µs/event")
    print(f"\nratio linkdesk / panoramisk: {ours[1] and (ours[0] / ours[1]) / (theirs[0] / theirs[1]):.2f}× "
          "(target: ≥ 1.0× and ≥ 50,000 events/s)")


if __name__ == "__main__":
    main()
