"""Who calls, when, and what their call is meant to become.

Each citizen's plan is drawn here, in Python, from one seeded generator, and
travels in the citizen's own number (the one thing every leg of the call
carries, to the operators' phones too): `13` + side (9: 110's caller, 8:
12345's) + the plan's digit + a 7-digit serial. The bench operators' sipp
scenarios read the digit and act on it, so the scenarios stay fixed and a
run is reproducible from its seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

# The plan digit: what the operator who answers does with the call.
TALK, BLIND, WARM, EMERGENCY = "0", "1", "2", "9"
SIDE_110, SIDE_12345 = "9", "8"


@dataclass(frozen=True)
class Shares:
    """The mix of a busy hour: of 110's calls, `handed` go to 12345 by key
    (`blind` of those blind, the rest warm); 12345 gets `direct_12345` calls
    of its own for each call to 110, `emergency` of them sent to 110 by the
    emergency lane; `impatient` of all citizens give up after a few seconds."""

    handed: float = 1 / 3
    blind: float = 0.5
    direct_12345: float = 0.5
    emergency: float = 0.2
    impatient: float = 0.1


@dataclass(frozen=True)
class Citizen:
    """One caller: when they call (s from the start), which PBX, their
    number (with the plan in it), how long they wait unanswered before giving
    up, and how long they talk once answered (again after each change of
    party, as a caller who is passed on starts over)."""

    at: float
    pbx: str
    number: str
    plan: str
    patience: float
    talk: float

    @property
    def impatient(self) -> bool:
        return self.patience < IMPATIENT_MAX


IMPATIENT_MAX = 6.0     # s: a citizen who waits less than this unanswered is an impatient one


def arrivals(rate: float, seconds: float, rng: random.Random) -> list[float]:
    """Poisson arrivals: exponential gaps of mean 1/`rate`, within `seconds`."""
    times, at = [], rng.expovariate(rate)
    while at < seconds:
        times.append(at)
        at += rng.expovariate(rate)
    return times


def number(side: str, plan: str, serial: int) -> str:
    """The citizen's number, carrying their side and plan (see the module)."""
    return f"13{side}{plan}{serial:07d}"


def plan_of(citizen_number: str) -> tuple[str, str] | None:
    """(side, plan) read back from a bench citizen's number; None for any other number."""
    if len(citizen_number) == 11 and citizen_number.startswith("13") and citizen_number.isdigit() \
            and citizen_number[2] in (SIDE_110, SIDE_12345):
        return citizen_number[2], citizen_number[3]
    return None


def busy_hour(rate: float, seconds: float, seed: int, shares: Shares = Shares(), first_serial: int = 0) -> list[Citizen]:
    """Every citizen of `seconds` at `rate` calls a second to 110 (and
    `shares.direct_12345` as many to 12345), in order of arrival."""
    rng = random.Random(seed)
    citizens = [_citizen(at, "110", rng, shares) for at in arrivals(rate, seconds, rng)]
    if shares.direct_12345 > 0:
        citizens += [_citizen(at, "12345", rng, shares) for at in arrivals(rate * shares.direct_12345, seconds, rng)]
    citizens.sort(key=lambda c: c.at)
    return [Citizen(c.at, c.pbx, number(c.number[2], c.plan, first_serial + n), c.plan, c.patience, c.talk)
            for n, c in enumerate(citizens)]


def _citizen(at: float, pbx: str, rng: random.Random, shares: Shares) -> Citizen:
    if pbx == "110":
        side = SIDE_110
        plan = TALK if rng.random() >= shares.handed else (BLIND if rng.random() < shares.blind else WARM)
    else:
        side = SIDE_12345
        plan = EMERGENCY if rng.random() < shares.emergency else TALK
    patience = rng.uniform(2.0, 5.0) if rng.random() < shares.impatient else 60.0
    # A call to be handed over needs its caller on the line through the
    # hand-over (a few seconds unanswered at the other side); some still give up.
    talk = rng.uniform(2.0, 5.0) if plan == TALK else rng.uniform(5.0, 12.0)
    return Citizen(at, pbx, number(side, "0", 0), plan, patience, talk)
