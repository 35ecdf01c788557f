"""Readiness against the real PBXs: `/readyz` is 503 while a PBX is stopped
and 200 once it is back; a PBX refusing linkdesk's login is retried with a
growing delay, logged once, and keeps `/readyz` at 503."""

from __future__ import annotations

import asyncio

import pytest

from ami_probe import on_loop
from lab_linkdesk import Linkdesk
from linkdesk.bridge.lab.layout import default_paths
from linkdesk.bridge.lab.pbx import asterisk_cli
from polling import until
from test_lab_metrics import sample, scrape
from test_lab_transfer import pbx_log_since, pbx_log_size
from test_lab_transfer_failures import _restart_the_lab

pytestmark = pytest.mark.lab

# A lab PBX comes back within seconds: retrying at most every 2 s keeps the wait short.
QUICK_RETRY = "[ami]\nbackoff_cap = 2\n"


def _readyz(linkdesk: Linkdesk) -> tuple[int, dict]:
    return linkdesk.call("GET", "/readyz", token=None, timeout=5)


@on_loop
async def test_readyz_is_503_while_the_12345_pbx_is_stopped_and_200_once_it_is_back(lab, tmp_path):
    linkdesk = Linkdesk(tmp_path, extra_config=QUICK_RETRY)
    stopped = False
    try:
        await linkdesk.ready()
        status, body = await until(lambda: (r := _readyz(linkdesk))[1].get("cluster", {}).get("role") == "leader"
                                   and r, timeout=10)   # alone on its store, it takes the lease at its first round
        assert (status, body) == (200, {"status": "ready", "not_ready": [], "store": {"state": "writable"},
                                        "pbx": {"110": {"ami": "logged-in"}, "12345": {"ami": "logged-in"}},
                                        "cluster": body["cluster"]})
        stop = asterisk_cli(default_paths(), "12345", "core stop now")
        assert stop.returncode == 0, stop.stderr
        stopped = True
        status, body = await until(lambda: (r := _readyz(linkdesk))[0] == 503 and r, timeout=20)
        assert body["not_ready"] == ["pbx.12345"] and body["pbx"]["110"] == {"ami": "logged-in"}
        assert body["pbx"]["12345"]["ami"] in ("lost", "unreachable"), body
        assert linkdesk.call("GET", "/livez", token=None)[0] == 200, "alive while not ready"
        await asyncio.to_thread(_restart_the_lab)
        stopped = False
        status, body = await until(lambda: (r := _readyz(linkdesk))[0] == 200 and r, timeout=30)
        assert (body["status"], body["not_ready"]) == ("ready", [])
    finally:
        linkdesk.stop()
        if stopped:
            _restart_the_lab()


def _step(attempt: int, initial: float = 0.25, cap: float = 4.0) -> float:
    """The backoff's step before attempt `attempt` + 1; each delay lies in [step/2, step] (jitter)."""
    return min(initial * 2 ** (attempt - 1), cap)


@on_loop
async def test_a_pbx_refusing_the_login_is_retried_ever_later_logged_once_and_not_ready(lab, tmp_path):
    pbx_log = pbx_log_size("12345")
    linkdesk = Linkdesk(tmp_path, extra_config='[pbx.12345]\nsecret = "not-the-secret"\n[ami]\nbackoff_cap = 4\n')
    try:
        seen: dict[int, float] = {}

        def attempts() -> int:
            status, body = _readyz(linkdesk)
            state = body.get("pbx", {}).get("12345", {})
            if status == 503 and state.get("ami") == "refused":
                seen[state["failed_attempts"]] = state["retry_delay"]
            return max(seen, default=0) >= 7

        await until(attempts, timeout=60, every=0.05)
        first, last = min(seen), max(seen)
        # The last attempt's delay may have been read before it was chosen.
        for attempt, delay in seen.items():
            assert attempt == last or _step(attempt) / 2 <= delay <= _step(attempt), (attempt, delay, seen)
        assert _step(last) > _step(first), "the delay grew"
        status, body = _readyz(linkdesk)
        assert (status, body["not_ready"], body["pbx"]["110"]) == (503, ["pbx.12345"], {"ami": "logged-in"})
        refusals = [line for line in linkdesk.log().splitlines() if "refused" in line and "PBX 12345" in line]
        assert len(refusals) == 1, refusals
        assert "not-the-secret" not in linkdesk.log()
        refused_by_pbx = pbx_log_since("12345", pbx_log).count("failed to authenticate as 'linkdesk'")
        assert refused_by_pbx >= last, (refused_by_pbx, last)
    finally:
        linkdesk.stop()


@on_loop
async def test_the_lab_emergency_queue_is_on_the_emergency_lane_the_alert_selects(lab, linkdesk):
    lanes = await until(lambda: {labels: value for (name, labels), value in scrape(linkdesk).items()
                                 if name == "linkdesk_queue_lane"}, timeout=10)
    emergency = {dict(labels)["queue"] for labels, value in lanes.items() if dict(labels)["lane"] == "emergency"}
    assert emergency == {"110-emergency"}
    assert sample(scrape(linkdesk), "linkdesk_queue_lane", pbx="110", queue="110-intake", lane="normal") == 1
