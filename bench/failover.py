"""Failover against the lab: two linkdesk instances on one PostgreSQL, the
key press served while both run (the baseline) and after the instance the
dialplan reaches first was SIGKILLed (the dialplan's fallback to the second).

Each round is bench/transfer.py's: a sipp citizen calls 110, the operator
presses *5, a 12345 phone gets the INVITE; key press (the PBX's DTMFEnd) →
INVITE at the 12345 phone, and linkdesk's own part (request → citizen moved).

    .venv/bin/python bench/failover.py [--rounds 10]

Both sets run in the same invocation and the ratio is printed. A dead host
that drops packets (instead of refusing) costs Asterisk's fixed 2 s connect
timeout on top of these figures: see the README's site guide.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from linkdesk.ami.connection import AmiConnection, AmiEndpoint  # noqa: E402
from linkdesk.bridge.lab import pbx as lab_pbx, postgres  # noqa: E402
from linkdesk.bridge.lab.layout import default_paths, load_specs  # noqa: E402
from linkdesk.bridge.lab.phones import SippPhones  # noqa: E402
from lab_linkdesk import Linkdesk  # noqa: E402
from transfer import one_round  # noqa: E402  (bench/transfer.py, beside this file)

LAB_STATE = Path("/var/lib/linkdesk")


async def rounds(specs, phones, dtmf, service: Linkdesk, count: int) -> list[dict]:
    done = []
    for _ in range(count):
        done.append(await one_round(specs, phones, dtmf, service))
        await asyncio.sleep(1.0)
    return done


async def main(count: int) -> None:
    paths = default_paths()
    specs = load_specs(paths)
    lab_pbx.up(paths, specs, lambda line: None)
    cluster = Path(tempfile.mkdtemp(prefix="pg-bench-", dir=LAB_STATE))
    server = postgres.start(cluster)
    dtmf: list = []
    watcher = AmiConnection(AmiEndpoint("110", specs["110"].ami_host, specs["110"].ami_port, specs["110"].ami_user,
                                        specs["110"].ami_secret), asyncio.get_running_loop(), events="system,dtmf")
    watcher.subscribe("DTMFEnd", dtmf.append)
    try:
        with tempfile.TemporaryDirectory(prefix="linkdesk-bench-") as tmp:
            first = Linkdesk(Path(tmp), store_url=server.url(), name="first")
            second = Linkdesk(Path(tmp), store_url=server.url(), name="second", agi_port=4574)
            try:
                await first.ready()
                await second.ready()
                watcher.start()
                await watcher.wait_logged_in(10)
                phones = SippPhones(Path(tmp), background=True)
                both = await rounds(specs, phones, dtmf, first, count)
                first.kill()
                fallback = await rounds(specs, phones, dtmf, second, count)
            finally:
                watcher.close()
                first.stop()
                second.stop()
    finally:
        postgres.stop(cluster)
        shutil.rmtree(cluster, ignore_errors=True)
    _print(both, fallback)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def _print(both: list[dict], fallback: list[dict]) -> None:
    print(f"\nKey press → INVITE at the 12345 phone, two instances on one PostgreSQL, {len(both)} rounds each\n")
    print(f"{'':<44}{'p50 ms':>9}{'p99 ms':>9}")
    for results, label in ((both, "both running (the first serves)"),
                           (fallback, "first SIGKILLed (the second serves)")):
        print(f"{label:<44}{_pct([r['total'] for r in results], 0.5):>9.1f}"
              f"{_pct([r['total'] for r in results], 0.99):>9.1f}")
        print(f"{'  of which linkdesk (request → moved)':<44}{_pct([r['linkdesk'] for r in results], 0.5):>9.1f}"
              f"{_pct([r['linkdesk'] for r in results], 0.99):>9.1f}")
    ratio = _pct([r["total"] for r in fallback], 0.5) / _pct([r["total"] for r in both], 0.5)
    print(f"\nfallback ÷ baseline (p50): {ratio:.2f}; target: at most 2 s plus linkdesk's own part")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    asyncio.run(main(parser.parse_args().rounds))
