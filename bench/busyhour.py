"""The busy hour in miniature on the lab: citizens arriving at 110 (Poisson,
at each offered rate) and at 12345, twenty bench operators on each PBX
answering (forty in the soak; --operators), a third of 110's calls handed to
12345 by key (blind and warm), a share of 12345's sent to 110 by the
emergency lane, impatient callers giving up, and at the end every citizen
accounted for (bridge/lab/busy/).

    .venv/bin/python bench/busyhour.py                          # rates 1, 2, 4, 6, 8 calls/s, 60 s each
    .venv/bin/python bench/busyhour.py --rate 4 --seconds 120   # one rate
    .venv/bin/python bench/busyhour.py --soak [--rate 4 --minutes 10 --operators 40]

The last line is always the accounting in one line:
offered=N completed=N transferred=N returned=N abandoned=N dropped=N
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from linkdesk.bridge.lab import pbx as lab_pbx  # noqa: E402
from linkdesk.bridge.lab.busy import account  # noqa: E402
from linkdesk.bridge.lab.busy.figures import hand_overs, key_accounting, met_a_free_operator, percentile  # noqa: E402
from linkdesk.bridge.lab.busy.plan import busy_hour  # noqa: E402
from linkdesk.bridge.lab.busy.session import OPERATORS, Result, play  # noqa: E402
from linkdesk.bridge.lab.busy.usage import slope_per_minute  # noqa: E402
from linkdesk.bridge.lab.layout import default_paths, load_specs  # noqa: E402
from lab_linkdesk import Linkdesk  # noqa: E402

# The soak's staff: at 4 calls/s 12345 needs about 23 operators busy at once
# (its own calls and the hand-overs' longer talks), more than the rates'
# twenty; with forty its queues stay short for the whole soak.
SOAK_OPERATORS = 40
# s: the queue metrics keep the last 15 minutes' calls (metrics/queues.py),
# so a soak's RSS grows with them until then, by design.
WINDOW_FULL = 16 * 60


def _ms(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    p50, p99 = percentile(present, 0.5), percentile(present, 0.99)
    return "      -" if p50 is None else f"{p50 * 1000:6.0f}/{p99 * 1000:<6.0f}"


def _dialing(service: Linkdesk) -> dict[str, float]:
    return {r["transfer_id"]: r["at"] for r in service.rows(
        "SELECT transfer_id, MIN(at) AS at FROM transfer_events WHERE state = 'dialing' GROUP BY transfer_id")}


def _own_ms(log: str) -> dict[str, float]:
    """Per transfer, linkdesk's time other than waiting on the PBX (its log line), in s."""
    return {m.group(1): float(m.group(2)) / 1000
            for m in re.finditer(r"transfer (\S+) dialing: ([\d.]+) ms in linkdesk", log)}


def row(rate: float, result: Result, service: Linkdesk) -> dict:
    mine = {c.number for c in result.citizens}
    transfers = [t for t in result.transfers if t["caller_number"] in mine]
    overs = hand_overs(transfers, result.events, result.operator_traces, _dialing(service))
    own = _own_ms(service.log())
    first, last = result.usage[0], result.usage[-1]
    wall = last.at - first.at
    return {"rate": rate, "totals": account.totals(result.verdicts), "verdicts": result.verdicts,
            "key_invite": [o.key_to_invite for o in overs],
            "free_invite": [o.key_to_invite for o in met_a_free_operator(overs)], "key_queued": [o.key_to_queued for o in overs],
            "queue_wait": [o.queue_wait for o in overs], "linkdesk": [o.linkdesk for o in overs],
            "to_request": [o.key_to_request for o in overs], "moved_arrived": [o.moved_to_arrived for o in overs],
            "arrived_queued": [o.arrived_to_queued for o in overs],
            "alone": [own.get(t["id"]) for t in transfers], "by_kind": _by_kind(transfers, overs),
            "cpu_ms": 1000 * (last.cpu - first.cpu) / max(1, len(result.citizens)), "rss": last.rss,
            "pbx": {n: 100 * (last.pbx_cpu[n] - first.pbx_cpu[n]) / wall for n in last.pbx_cpu},
            "phones": 100 * (last.phones_cpu - first.phones_cpu) / wall,
            "keys": key_accounting(result.events, transfers), "left_up": result.left_up}


def _kind(transfer: dict) -> str:
    return "emergency" if transfer["lane"] == "emergency" else transfer["mode"]


def _by_kind(transfers: list[dict], overs) -> dict[str, dict[str, list]]:
    """The routing's parts per kind of hand-over (blind, warm, emergency): their paths differ after linkdesk."""
    kinds: dict[str, dict[str, list]] = {}
    for transfer, over in zip(transfers, overs):
        parts = kinds.setdefault(_kind(transfer), {"linkdesk": [], "moved_arrived": [], "arrived_queued": []})
        parts["linkdesk"].append(over.linkdesk)
        parts["moved_arrived"].append(over.moved_to_arrived)
        parts["arrived_queued"].append(over.arrived_to_queued)
    return kinds


def print_rates(rows: list[dict]) -> None:
    print("\nBusy hour, per offered rate (calls/s at 110; 12345 gets half as many of its own)\n")
    print(f"{'rate':>5}{'offered':>8}{'compl':>6}{'transf':>7}{'return':>7}{'aband':>6}{'drop':>5}"
          f"  {'key→INVITE':>13}  {'…free oper.':>13}  {'key→queued':>13}  {'queue wait':>13}  {'linkdesk':>13}  {'alone':>13}"
          f"{'CPU ms/call':>12}{'RSS MB':>8}{'PBX 110 %':>10}{'PBX 12345 %':>12}{'phones %':>9}")
    for r in rows:
        t = r["totals"]
        print(f"{r['rate']:>5g}{t['offered']:>8}{t['completed']:>6}{t['transferred']:>7}{t['returned']:>7}"
              f"{t['abandoned']:>6}{t['dropped']:>5}  {_ms(r['key_invite']):>13}  {_ms(r['free_invite']):>13}  {_ms(r['key_queued']):>13}  "
              f"{_ms(r['queue_wait']):>13}  {_ms(r['linkdesk']):>13}  {_ms(r['alone']):>13}"
              f"{r['cpu_ms']:>12.1f}{r['rss'] / 2**20:>8.1f}{r['pbx'].get('110', 0):>10.0f}"
              f"{r['pbx'].get('12345', 0):>12.0f}{r['phones']:>9.0f}")
    print("\ntimes in ms as p50/p99; key→INVITE: the operator's key (the PBX's DTMFEnd) to the receiving "
          "operator's INVITE (…free oper.: of the hand-overs whose receiving queue had a free operator as the "
          "citizen joined it), = key→queued (routing: linkdesk, the trunk, the other PBX) + queue wait (the "
          "receiving queue finding a free operator); linkdesk: its request to the citizen moved; alone: the "
          "same less its waits on the PBX. CPU per offered call; PBX and phones (the bench's sipp processes) CPU "
          "as % of one core (the lab has two).")
    print(f"\nWhere the routing (key→queued) goes, ms p50/p99\n\n{'rate':>5}  {'key→linkdesk':>13}  "
          f"{'linkdesk':>13}  {'moved→arrived':>13}  {'arrived→queued':>14}")
    for r in rows:
        print(f"{r['rate']:>5g}  {_ms(r['to_request']):>13}  {_ms(r['linkdesk']):>13}  "
              f"{_ms(r['moved_arrived']):>13}  {_ms(r['arrived_queued']):>14}")
    print("key→linkdesk: the sending PBX's feature, Gosub and FastAGI connect, until linkdesk has the request; "
          "moved→arrived: the Redirect, the Dial and the INVITE, until the receiving PBX has the trunk call's "
          "channel; arrived→queued: its dialplan (with linkdesk's inbound route) until its queue has the citizen.")
    print(f"\nThe same per kind of hand-over (blind *5: Redirect then Dial; warm *6 and emergency *9: the key's "
          f"Gosub returns, both moved into the room, the receiver called by Originate)\n\n{'rate':>5}  {'kind':>9}"
          f"{'n':>5}  {'linkdesk':>13}  {'moved→arrived':>13}  {'arrived→queued':>14}")
    for r in rows:
        for kind, parts in sorted(r["by_kind"].items()):
            print(f"{r['rate']:>5g}  {kind:>9}{len(parts['linkdesk']):>5}  {_ms(parts['linkdesk']):>13}  "
                  f"{_ms(parts['moved_arrived']):>13}  {_ms(parts['arrived_queued']):>14}")
    if len(rows) > 1 and rows[0]["cpu_ms"]:
        ratios = ", ".join(f"{r['rate']:g}/s {r['cpu_ms'] / rows[0]['cpu_ms']:.2f}" for r in rows[1:])
        print(f"linkdesk CPU per call against {rows[0]['rate']:g}/s: {ratios}")


def print_accounting(rows: list[dict]) -> None:
    print("\nEvery citizen accounted for\n")
    for r in rows:
        verdicts = r["verdicts"]
        where = Counter((v.outcome, v.where) for v in verdicts if v.outcome != "completed")
        k = r["keys"]
        print(f"{r['rate']:g} calls/s: " + account.one_line(verdicts))
        print(f"  completed: {sum(v.outcome == 'completed' and not v.transferred and not v.returned for v in verdicts)} "
              f"at their first platform, {sum(v.transferred for v in verdicts)} at the other after a hand-over, "
              f"{sum(v.returned and v.outcome == 'completed' for v in verdicts)} back at the first after a return; "
              f"{account.planned_but_kept(verdicts)} hung up before their operator's key")
        for (outcome, place), n in sorted(where.items()):
            print(f"  {outcome}: {n} {place}")
        print(f"  hand-over keys pressed {k['pressed']}, transfers stored {k['stored']} "
              f"({', '.join(f'{s} {n}' for s, n in sorted(k['ended'].items())) or 'none'}), "
              f"keys refused {sum(k['refused'].values())} {dict(k['refused']) or ''}"
              + (f"; {k['late']} more whose digit came began over 1 s after its * ended (no key to the PBX)" if k["late"] else ""))
        print(f"  channels still up once every citizen had gone (operators left in a call): "
              f"{', '.join(f'PBX {n} {c}' for n, c in r['left_up'].items())}")


def _tasks(service: Linkdesk) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{service.http_port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:
        return "?"
    found = re.search(r"^linkdesk_tasks (\S+)$", text, re.M)
    return str(int(float(found.group(1)))) if found else "?"


async def soak(service: Linkdesk, specs, records, workdir: Path, rate: float, minutes: float, seed: int,
               operators: int) -> list[dict]:
    print(f"\nSoak: {rate:g} calls/s for {minutes:g} minutes, {operators} bench operators per PBX; every minute "
          "linkdesk's RSS, open descriptors, live tasks and the store's size\n")
    print(f"{'minute':>7}{'RSS MB':>9}{'fds':>6}{'tasks':>7}{'store kB':>10}")

    def show(u):
        minute = round((u.at - begun) / 60)
        print(f"{minute:>7}{u.rss / 2**20:>9.1f}{u.fds:>6}{_tasks(service):>7}{u.store_bytes / 1024:>10.0f}", flush=True)
    citizens = busy_hour(rate, minutes * 60, seed)
    begun = time.monotonic()   # usage samples are stamped on the monotonic clock
    result = await play(specs, citizens, workdir, service.process.pid, service.where,
                        {n: r.pid for n, r in records.items()}, seed=seed, every=60.0, on_sample=show,
                        operators=operators)
    warm = [(u.at, u.rss / 2**20) for u in result.usage if u.at - result.usage[0].at >= 120]
    print(f"\nRSS slope after the first two minutes: {slope_per_minute(warm):+.3f} MB/minute")
    late = [(at, rss) for at, rss in warm if at - result.usage[0].at >= WINDOW_FULL]
    if len(late) >= 3:
        print(f"RSS slope once the queue metrics' 15-minute window is full (minute 16 on): "
              f"{slope_per_minute(late):+.3f} MB/minute")
    return [row(rate, result, service)]


def _keep_events(path: Path, events: list[dict]) -> None:
    """Both PBXs' AMI events of one rate, one JSON object a line (--keep), for looking into a figure."""
    with open(path, "w") as out:
        for event in events:
            out.write(json.dumps(event) + "\n")


async def main(args) -> None:
    paths = default_paths()
    specs = load_specs(paths)
    records = lab_pbx.up(paths, specs, lambda line: None)
    with tempfile.TemporaryDirectory(prefix="linkdesk-busyhour-") as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        service = Linkdesk(Path(tmp))
        try:
            await service.ready()
            if args.soak:
                rows = await soak(service, specs, records, Path(tmp), args.rate or 4, args.minutes, args.seed,
                                  args.operators or SOAK_OPERATORS)
            else:
                rows = []
                for n, rate in enumerate([args.rate] if args.rate else args.rates):
                    citizens = busy_hour(rate, args.seconds, args.seed + n, first_serial=n * 1_000_000)
                    result = await play(specs, citizens, Path(tmp), service.process.pid, service.where,
                                        {name: r.pid for name, r in records.items()}, seed=args.seed + n,
                                        operators=args.operators or OPERATORS)
                    rows.append(row(rate, result, service))
                    if args.keep:
                        _keep_events(Path(args.keep) / f"events-{rate:g}.jsonl", result.events)
                    print(f"{rate:g} calls/s done: " + account.one_line(result.verdicts), flush=True)
        finally:
            service.stop()
    print_rates(rows)
    print_accounting(rows)
    print(account.one_line([v for r in rows for v in r["verdicts"]]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[1, 2, 4, 6, 8])
    parser.add_argument("--rate", type=float, help="one offered rate (calls/s at 110) instead of --rates")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each rate offers calls")
    parser.add_argument("--soak", action="store_true", help="one long run, sampled every minute")
    parser.add_argument("--minutes", type=float, default=10.0, help="the soak's length")
    parser.add_argument("--operators", type=int, help=f"bench operators per PBX (1-40; default {OPERATORS}, "
                        f"the soak {SOAK_OPERATORS})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", metavar="DIR", help="keep the phones' traces, linkdesk's log and store, and the AMI events in DIR")
    asyncio.run(main(parser.parse_args()))
