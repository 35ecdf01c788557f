"""One busy hour on the lab: bench operators on both PBXs, citizens arriving
as planned, the PBXs' AMI events recorded, and every citizen accounted for.

The caller brings the lab (up) and a linkdesk serving it (its pid and store);
`play` returns the run's Result. Nothing here judges speed: bench/busyhour.py
prints the figures, tests/test_lab_busyhour.py asserts the accounting."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from linkdesk.ami.connection import AmiConnection, AmiEndpoint
from linkdesk.bridge.lab.busy import account, trace
from linkdesk.bridge.lab.busy.plan import Citizen
from linkdesk.bridge.lab.busy.scenarios import Timing, citizen_scenario, operator_scenario
from linkdesk.bridge.lab.busy.usage import Usage, sample
from linkdesk.bridge.lab import pbx as lab_pbx
from linkdesk.bridge.lab.layout import PbxSpec, default_paths
from linkdesk.bridge.lab.phones import SippPhone, SippPhones
from linkdesk.bridge.lab.store_view import StoreView

OPERATORS = 20   # bench operators per PBX a run staffs by default; the lab has forty (pjsip-bench.conf)
SERVICE = {"110": "1108", "12345": "12345"}     # what bench citizens dial: 110's bench queue, 12345's intake
SETTLE = 15.0     # s after the last citizen's phone is done, for the stores and events to settle
LAST_CALL = 90.0  # s a citizen's phone may run (its patience and talk, a hand-over, a return)


@dataclass
class Result:
    citizens: list[Citizen]
    verdicts: list[account.Verdict]
    events: list[dict]
    transfers: list[dict]
    legs: dict[str, trace.Leg | None]
    operator_traces: dict[str, str]          # "pbx/extension" → the SIP its phone saw
    usage: list[Usage] = field(default_factory=list)
    seconds: float = 0.0
    left_up: dict[str, int] = field(default_factory=dict)   # channels still up on each PBX once every citizen left


class Watch:
    """Every AMI event of both PBXs, stamped with the host's clock on arrival ("at") and the PBX's name."""

    def __init__(self, specs: dict[str, PbxSpec], loop: asyncio.AbstractEventLoop):
        self.events: list[dict] = []
        self.links = {}
        for name, spec in specs.items():
            link = AmiConnection(AmiEndpoint(name, spec.ami_host, spec.ami_port, spec.ami_user, spec.ami_secret),
                                 loop, events="system,call,agent,user,dtmf")
            link.subscribe("*", lambda event, pbx=name: self.events.append(
                {**dict(event), "pbx": pbx, "at": float(event.get("Timestamp") or time.time())}))
            self.links[name] = link

    async def start(self) -> None:
        for link in self.links.values():
            link.start()
        for link in self.links.values():
            await link.wait_logged_in(10)

    def close(self) -> None:
        for link in self.links.values():
            link.close()


def bench(count: int = OPERATORS) -> dict[str, list[str]]:
    """The first `count` bench operators' extensions on each PBX (at most forty)."""
    if not 1 <= count <= 40:
        raise ValueError(f"the lab has 1 to 40 bench operators per PBX, not {count}")
    return {"110": [str(1201 + n) for n in range(count)], "12345": [str(2201 + n) for n in range(count)]}


class Operators:
    """The bench phones `staff` names on each PBX, each with habits of its own."""

    def __init__(self, phones: SippPhones, specs: dict[str, PbxSpec], staff: dict[str, list[str]],
                 rng: random.Random, lifetime: int):
        self.phones: dict[str, SippPhone] = {}
        for side, extensions in staff.items():
            for ext in extensions:
                timing = Timing(ring=rng.uniform(0.3, 1.2), before_key=rng.uniform(0.8, 1.6),
                                hold_warm=rng.uniform(5.0, 7.0))
                scenario = phones.workdir / f"busy-operator-{ext}.xml"
                scenario.write_text(operator_scenario(side, timing, phones.workdir))
                self.phones[f"{side}/{ext}"] = phones.answering(specs[side].phone(ext), scenario, lifetime=lifetime)

    def stop(self) -> dict[str, str]:
        """Stop every phone (each unregisters); the SIP each one saw."""
        seen = {}
        for name, phone in self.phones.items():
            phone.stop()
            seen[name] = phone.messages()
        return seen


async def play(specs: dict[str, PbxSpec], citizens: list[Citizen], workdir: Path, linkdesk_pid: int,
               store: Path | str, pbx_pids: dict[str, int], seed: int = 1, every: float = 60.0,
               on_sample=None, operators: int = OPERATORS) -> Result:
    """Run the busy hour `citizens` describe, with `operators` bench
    operators on each PBX; `every` s, a Usage sample (passed to `on_sample`
    as it comes: the soak prints them)."""
    staff = bench(operators)
    phones = SippPhones(workdir, background=True)
    watch = Watch(specs, asyncio.get_running_loop())
    length = (citizens[-1].at if citizens else 0.0) + LAST_CALL + SETTLE
    phones_of = Operators(phones, specs, staff, random.Random(seed), lifetime=int(length + 120))
    usage = [sample(linkdesk_pid, pbx_pids, store, _running(phones))]
    begun = time.monotonic()
    try:
        await _cleared(specs)
        await watch.start()
        await _until_reachable(staff)
        started = await _call(phones, specs, citizens, lambda: _sampled(usage, begun, every, linkdesk_pid,
                                                                          pbx_pids, store, phones, on_sample))
        await _until_done(started, LAST_CALL)
        await _until_settled(store, SETTLE)
        left_up = await _until_free(specs, SETTLE)
        if any(left_up.values()):
            await _cleared(specs)
        usage.append(sample(linkdesk_pid, pbx_pids, store, _running(phones)))
    finally:
        watch.close()
        seen = phones_of.stop()
    legs = {number: trace.leg(phone.messages()) for number, phone in started.items()}
    transfers = _transfers(store)
    operator_sets = {side: set(exts) for side, exts in staff.items()}
    verdicts = account.account(citizens, legs, account.facts(watch.events, operator_sets, legs), transfers)
    return Result(citizens, verdicts, watch.events, transfers, legs, seen, usage, time.monotonic() - begun, left_up)


async def _call(phones: SippPhones, specs: dict[str, PbxSpec], citizens: list[Citizen], tick) -> dict[str, SippPhone]:
    """Start each citizen's phone at its time; `tick()` between arrivals."""
    started, zero = {}, time.monotonic()
    for citizen in citizens:
        while (wait := zero + citizen.at - time.monotonic()) > 0:
            tick()
            await asyncio.sleep(min(wait, 0.5))
        scenario = phones.workdir / f"busy-citizen-{citizen.number}.xml"
        scenario.write_text(citizen_scenario(citizen.patience, citizen.talk))
        started[citizen.number] = phones.calling(specs[citizen.pbx], SERVICE[citizen.pbx], citizen.number,
                                                 scenario, lifetime=int(LAST_CALL))
    tick()
    return started


def _running(phones: SippPhones) -> list[int]:
    return [p.pid for p in phones.started if p.process.poll() is None]


def _sampled(usage: list[Usage], begun: float, every: float, pid: int, pbx_pids: dict[str, int],
             store: Path | str, phones: SippPhones, on_sample) -> None:
    if time.monotonic() - begun >= every * len(usage):
        usage.append(sample(pid, pbx_pids, store, _running(phones)))
        if on_sample:
            on_sample(usage[-1])


async def _until_done(started: dict[str, SippPhone], within: float) -> None:
    """Until every citizen's phone has exited (each quits by itself at LAST_CALL at the latest)."""
    deadline = time.monotonic() + within + 10
    while any(p.process.poll() is None for p in started.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    for phone in started.values():
        phone.stop()


async def _until_reachable(staff: dict[str, list[str]], within: float = 15.0) -> None:
    """Until each PBX's qualify finds every staffed bench phone reachable: no citizen meets a phone still unknown."""
    deadline = time.monotonic() + within
    while True:
        missing = []
        for side, exts in staff.items():
            states = {c.split("/")[0]: s for c, s in lab_pbx.contact_states(default_paths(), side).items()}
            missing += [f"{side}/{ext}" for ext in exts if states.get(ext) != "Avail"]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench phones not reachable after {within:g} s: {', '.join(missing)}")
        await asyncio.sleep(0.2)


async def _cleared(specs: dict[str, PbxSpec]) -> None:
    """Hang up every channel on the PBXs: a run (or a rate) starts on free
    operators and counts only the channels it leaves up itself."""
    for name in specs:
        lab_pbx.hang_up_all(default_paths(), name)
    await _until_free(specs, 10.0)


async def _until_free(specs: dict[str, PbxSpec], within: float) -> dict[str, int]:
    """Each PBX's channels still up (an operator left in a call with no
    citizen: stranded), once none is or after `within` s. Every citizen has
    hung up by now, and a bench operator never hangs up by itself."""
    deadline = time.monotonic() + within
    while True:
        left = {name: _or_unknown(lab_pbx.channel_count(default_paths(), name)) for name in specs}
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.5)


def _or_unknown(count: int | None) -> int:
    return -1 if count is None else count     # -1: the PBX did not say (the table shows it, never as 0)


async def _until_settled(store: Path | str, within: float) -> None:
    """Until no transfer in the store is still under way (or `within` s)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(r["state"] in ("requested", "dialing", "answered") for r in _transfers(store)):
            return
        await asyncio.sleep(0.2)


def _transfers(store: Path | str) -> list[dict]:
    return StoreView(store).rows("SELECT * FROM transfers")
