"""FastAGI: linkdesk's server against panoramisk's fast_agi, in one run.

Both serve the same four-command handler (linkdesk then also sets
LINKDESK_RESULT, its contract: five commands on the wire against four). One
load generator plays Asterisk at 1, 50 and 500 concurrent sessions. Each
server runs in its own process so its CPU time can be read from /proc.

    .venv/bin/python bench/agi.py [--sessions 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENV = "".join(f"{k}: {v}\n" for k, v in {
    "agi_network": "yes", "agi_network_script": "bench", "agi_request": "agi://127.0.0.1/bench",
    "agi_channel": "PJSIP/1101-00000001", "agi_language": "en", "agi_type": "PJSIP",
    "agi_uniqueid": "1700000000.1", "agi_version": "22.10.1", "agi_callerid": "13800138000",
    "agi_calleridname": "Citizen", "agi_callingpres": "0", "agi_dnid": "110", "agi_context": "intake-110",
    "agi_extension": "110", "agi_priority": "2", "agi_enhanced": "0.0", "agi_accountcode": "",
    "agi_threadid": "140000000000000"}.items()).encode() + b"\n"
REPLY = b"200 result=1 (13800138000)\n"
LEVELS = (1, 50, 500)
SERVER_CPU = os.cpu_count() - 1


# -- the two servers (each in its own process) --------------------------------
def serve_linkdesk(port: int) -> None:
    from linkdesk.bridge.app.reactor import install_asyncio_reactor

    loop = install_asyncio_reactor()
    from twisted.internet import reactor

    from linkdesk.agi.fastagi import AgiLimits, FastAgiFactory
    from linkdesk.agi.routes import RouteTable
    from linkdesk.bridge.app.heap import settle_heap

    async def four_commands(request):
        await request.get_variable("CALLERID(num)")
        await request.set_variable("BENCH_A", "1")
        await request.get_variable("BENCH_B")
        await request.set_variable("BENCH_C", "done")

    routes = RouteTable()
    routes.add("bench", four_commands)
    factory = FastAgiFactory(routes, AgiLimits(max_sessions=10_000), loop)
    from twisted.internet.defer import Deferred

    from linkdesk.agi.hosting import listen

    async def start():
        await listen(factory, "127.0.0.1", port)
        settle_heap()  # as `linkdesk serve` does once the process is wired
        print("ready", flush=True)

    reactor.callWhenRunning(lambda: Deferred.fromFuture(asyncio.ensure_future(start())))
    reactor.run()


def serve_panoramisk(port: int) -> None:
    from panoramisk.fast_agi import Application

    async def four_commands(request):
        await request.send_command('GET VARIABLE "CALLERID(num)"')
        await request.send_command('SET VARIABLE "BENCH_A" "1"')
        await request.send_command('GET VARIABLE "BENCH_B"')
        await request.send_command('SET VARIABLE "BENCH_C" "done"')

    async def main():
        app = Application(loop=asyncio.get_running_loop())
        app.add_route("bench", four_commands)
        await asyncio.start_server(app.handler, "127.0.0.1", port, backlog=1024)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the load generator, playing Asterisk ---------------------------------------
async def one_session(port: int) -> tuple[float, int]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    commands = 0
    # The server may close after its last command, before our reply lands.
    with contextlib.suppress(ConnectionResetError):
        while await reader.readline():
            commands += 1
            writer.write(REPLY)
    writer.close()
    return time.perf_counter() - started, commands


async def drive(port: int, sessions: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    todo = iter(range(sessions))

    async def worker():
        for _ in todo:
            latency, commands = await one_session(port)
            assert commands >= 4, f"server sent only {commands} commands"
            latencies.append(latency)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def cpu_seconds(pid: int) -> float:
    """CPU time of all the process's threads, from schedstat (nanoseconds;
    /proc/PID/stat counts 10 ms ticks, too coarse for a few hundred ms)."""
    return sum(int((task / "schedstat").read_text().split()[0])
               for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9


def start_server(kind: str, port: int) -> subprocess.Popen:
    # Servers on the last core, the load generator on the first: the two
    # then do not take turns on one core, which made runs differ by ±15 %.
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)],
                            stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {SERVER_CPU}))
    assert proc.stdout.readline().strip() == "ready", f"{kind} server did not start"
    return proc


def measure(kind: str, proc: subprocess.Popen, port: int, sessions: int, concurrency: int) -> dict:
    asyncio.run(drive(port, min(sessions, 100), concurrency))  # warm-up
    cpu_before = cpu_seconds(proc.pid)
    elapsed, latencies = asyncio.run(drive(port, sessions, concurrency))
    cpu = cpu_seconds(proc.pid) - cpu_before
    latencies.sort()
    return {"server": kind, "concurrency": concurrency, "rate": sessions / elapsed,
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "cpu_us": cpu / sessions * 1e6}


def _median_row(kind: str, concurrency: int, results: list[dict]) -> dict:
    return {"server": kind, "concurrency": concurrency,
            **{key: statistics.median(r[key] for r in results) for key in ("rate", "p50", "p99", "cpu_us")}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per level; medians shown")
    parser.add_argument("--serve", choices=("linkdesk", "panoramisk"))
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.serve:
        (serve_linkdesk if args.serve == "linkdesk" else serve_panoramisk)(args.port)
        return
    os.sched_setaffinity(0, {0})
    ports = {"linkdesk": 14573, "panoramisk": 14574}
    servers = {kind: start_server(kind, port) for kind, port in ports.items()}
    try:
        rows = []
        for concurrency in LEVELS:
            runs = {"linkdesk": [], "panoramisk": []}
            for round_ in range(args.rounds):
                # Alternate who goes first, so that drift in the machine hits both alike.
                for kind in (("linkdesk", "panoramisk") if round_ % 2 == 0 else ("panoramisk", "linkdesk")):
                    runs[kind].append(measure(kind, servers[kind], ports[kind], args.sessions, concurrency))
            rows.extend(_median_row(kind, concurrency, results) for kind, results in runs.items())
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait()
    print(f"FastAGI, {args.sessions} sessions per run, medians of {args.rounds} alternating runs, "
          "four-command handler\n")
    print(f"{'server':<11}{'conc':>5}{'sessions/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/session':>16}")
    for row in rows:
        print(f"{row['server']:<11}{row['concurrency']:>5}{row['rate']:>12.0f}{row['p50']:>9.2f}"
              f"{row['p99']:>9.2f}{row['cpu_us']:>16.0f}")
    print("\nratios linkdesk / panoramisk (target: CPU ≤ 0.80; p99 at 500 ≤ 1.00)")
    for concurrency in LEVELS:
        ours, theirs = (next(r for r in rows if r["server"] == k and r["concurrency"] == concurrency)
                        for k in ("linkdesk", "panoramisk"))
        print(f"  {concurrency:>3} concurrent: CPU/session {ours['cpu_us'] / theirs['cpu_us']:.2f}, "
              f"p99 {ours['p99'] / theirs['p99']:.2f}, sessions/s {ours['rate'] / theirs['rate']:.2f}")


if __name__ == "__main__":
    main()
