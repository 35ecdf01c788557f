"""One-click transfer against the lab: from the key press (the PBX's DTMFEnd)
to the INVITE reaching the 12345 softphone, and linkdesk's own part of it.

Each round: a sipp citizen calls 110, the 110 operator's sipp phone presses
*5, a 12345 operator's sipp phone receives the INVITE. Timestamps come from
the PBX (DTMFEnd, AMI Timestamp), from linkdesk's store (request received →
citizen moved) and from sipp's message trace; one host, one clock.

    .venv/bin/python bench/transfer.py [--rounds 10] [--concurrent 20] [--bursts 3]

One at a time, the lab's operators 1101 and 2101/2102 take part; twenty at
once, the bench phones (1201-1220 on 110, 2201-2220 on 12345), one sipp each.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from linkdesk.ami.connection import AmiConnection, AmiEndpoint  # noqa: E402
from linkdesk.bridge.lab import pbx as lab_pbx  # noqa: E402
from linkdesk.bridge.lab.layout import default_paths, load_specs  # noqa: E402
from linkdesk.bridge.lab.phones import SippPhones  # noqa: E402
from linkdesk.dialplan.keys import DEFAULT_KEYS  # noqa: E402
from lab_linkdesk import Linkdesk  # noqa: E402

# The lab's blind key; its last digit's DTMFEnd is the key press.
BLIND_KEY = DEFAULT_KEYS["blind"]
CITIZEN = "13800138000"


async def one_round(specs, phones: SippPhones, dtmf: list, service: Linkdesk) -> dict:
    dtmf.clear()
    operator = phones.operator(specs["110"].operators[0], press=BLIND_KEY, press_after=1.0)
    receivers = [phones.operator(op, answer_after=0.5) for op in specs["12345"].operators]
    # A lab just brought up still holds the phones' old contacts as unreachable.
    await _until_qualified({"110": [specs["110"].operators[0].extension],
                            "12345": [op.extension for op in specs["12345"].operators]})
    citizen = phones.citizen(specs["110"], "110", CITIZEN, talk_seconds=4)
    await citizen.finished(60)
    for phone in (operator, *receivers):
        phone.stop()
    key = next(e for e in dtmf if e.get("Digit") == BLIND_KEY[-1] and e.get("Channel", "").startswith("PJSIP/1101-"))
    invite_at = min(t for p in receivers if (t := _invite_time(p.messages())))
    last = service.rows("SELECT t.id, t.received_at, e.at FROM transfers t JOIN transfer_events e "
                        "ON e.transfer_id = t.id WHERE e.state = 'dialing' ORDER BY t.created_at DESC LIMIT 1")[0]
    transfer_id, received, dialing = last["id"], last["received_at"], last["at"]
    return {"total": invite_at - float(key["Timestamp"]), "linkdesk": dialing - received,
            "alone": _own_times(service)[transfer_id]}


async def concurrent_round(specs, phones: SippPhones, dtmf: list, service: Linkdesk, count: int) -> list[dict]:
    """`count` citizens at once through the bench queue; one result per transfer."""
    dtmf.clear()
    bench = {"110": [str(1201 + n) for n in range(20)], "12345": [str(2201 + n) for n in range(20)]}
    operators = [phones.operator(specs["110"].phone(ext), press=BLIND_KEY, press_after=1.0) for ext in bench["110"]]
    receivers = [phones.operator(specs["12345"].phone(ext), answer_after=0.5) for ext in bench["12345"]]
    await _until_qualified(bench)
    citizens = [phones.citizen(specs["110"], "1108", f"139{n:08d}", talk_seconds=15) for n in range(count)]
    for citizen in citizens:
        await citizen.finished(90)
    for phone in (*operators, *receivers):
        phone.stop()
    keys = {e["Channel"]: float(e["Timestamp"]) for e in dtmf if e.get("Digit") == BLIND_KEY[-1]}
    invites = {order: at for phone in receivers for at, order in _invites(phone.messages())}
    with sqlite3.connect(service.store) as db:
        rows = db.execute("SELECT t.id, t.operator_channel, t.order_id, t.received_at, e.at FROM transfers t "
                          "JOIN transfer_events e ON e.transfer_id = t.id WHERE e.state = 'dialing'").fetchall()
    own = _own_times(service)
    return [{"total": invites[order] - keys[channel], "linkdesk": dialing - received, "alone": own[transfer_id]}
            for transfer_id, channel, order, received, dialing in rows if order in invites and channel in keys]


async def _until_qualified(extensions: dict[str, list[str]], within: float = 15.0) -> None:
    """Return once each PBX's qualify has found every one of its `extensions`'
    registered phones reachable, so that no citizen meets a phone still unknown."""
    deadline = time.monotonic() + within
    while missing := _unreachable(extensions):
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench phones not reachable after {within:g} s: {', '.join(missing)}")
        await asyncio.sleep(0.2)


def _unreachable(extensions: dict[str, list[str]]) -> list[str]:
    """Each of `extensions` whose contact is not Avail, as "PBX/extension"."""
    missing = []
    for pbx, exts in extensions.items():
        states = {contact.split("/")[0]: state for contact, state in lab_pbx.contact_states(default_paths(), pbx).items()}
        missing += [f"{pbx}/{ext}" for ext in exts if states.get(ext) != "Avail"]
    return missing


def _own_times(service: Linkdesk) -> dict[str, float]:
    """Per transfer, the time linkdesk spent on it other than waiting for the PBX's replies (its log)."""
    return {match.group(1): float(match.group(2)) / 1000 for match in re.finditer(
        r"transfer (\S+) dialing: ([\d.]+) ms in linkdesk", service.log())}


def _invites(messages: str) -> list[tuple[float, str]]:
    found = []
    for match in re.finditer(r"-{10,} (\S+ \S+)\n[^\n]*\n\nINVITE sip:(.*?)\n\n", messages, re.S):
        order = re.search(r"^X-Linkdesk-Order:\s*(\S+)", match.group(2), re.M)
        if order:
            found.append((datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp(), order.group(1)))
    return found


def _invite_time(messages: str) -> float | None:
    match = re.search(r"-{10,} (\S+ \S+)\n[^\n]*\n\nINVITE sip:", messages)
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp() if match else None


async def main(rounds: int, concurrent: int, bursts: int) -> None:
    paths = default_paths()
    specs = load_specs(paths)
    lab_pbx.up(paths, specs, lambda line: None)
    with tempfile.TemporaryDirectory(prefix="linkdesk-bench-") as tmp:
        service = Linkdesk(Path(tmp))
        dtmf: list = []
        watcher = AmiConnection(AmiEndpoint("110", specs["110"].ami_host, specs["110"].ami_port,
                                            specs["110"].ami_user, specs["110"].ami_secret), asyncio.get_running_loop(),
                                events="system,dtmf")
        watcher.subscribe("DTMFEnd", dtmf.append)
        try:
            await service.ready()
            watcher.start()
            await watcher.wait_logged_in(10)
            phones = SippPhones(Path(tmp), background=True)
            single = []
            for _ in range(rounds):
                single.append(await one_round(specs, phones, dtmf, service))
                await asyncio.sleep(1.0)
            many = []
            for _ in range(bursts if concurrent else 0):
                many += await concurrent_round(specs, phones, dtmf, service, concurrent)
                await asyncio.sleep(2.0)
        finally:
            watcher.close()
            service.stop()
    _print(single, f"{len(single)} transfers one at a time")
    if many:
        _print(many, f"{concurrent} transfers at once, {bursts} times ({len(many)} of {concurrent * bursts} "
                     "matched to their INVITE)")


def _print(results: list[dict], title: str) -> None:
    def pct(values, q):
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    print(f"\nOne-click transfer 110 → 12345, {title}\n")
    print(f"{'':<38}{'p50 ms':>9}{'p99 ms':>9}")
    for key, label in (("total", "key press → INVITE at 12345 softphone"), ("linkdesk", "linkdesk's part"),
                       ("alone", "  of which linkdesk alone")):
        values = [r[key] for r in results]
        print(f"{label:<38}{pct(values, 0.5):>9.1f}{pct(values, 0.99):>9.1f}")
    share = statistics.median(r["linkdesk"] / r["total"] for r in results)
    print(f"\nlinkdesk's share of the total (median): {share:.0%}; target: linkdesk's part < 10 ms at p99")
    print("linkdesk's part: from its transfer request (the AGI route called) to the citizen moved "
          "(AMI Redirect answered), including its AMI round trips;\nlinkdesk alone: the same less the time "
          "spent waiting for the PBX's replies (from linkdesk's log).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=20, help="transfers at once (0: skip; at most 20)")
    parser.add_argument("--bursts", type=int, default=3, help="how many times the concurrent round runs")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, min(args.concurrent, 20), args.bursts))
