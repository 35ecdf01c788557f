"""Metrics against the lab (issue 7's proof): a day in miniature whose scraped
counts equal what the test caused, a restart that re-syncs the gauges, and a
real Prometheus server scraping linkdesk."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ami_probe import EventRecorder, on_loop
from linkdesk.ami.actions import AmiActions
from linkdesk.bridge.lab import prometheus
from linkdesk.bridge.lab.layout import default_paths
from linkdesk.bridge.lab.procs import stop_child
from lab_linkdesk import Linkdesk, free_tcp_port
from polling import until

pytestmark = pytest.mark.lab
INTAKE = {"pbx": "110", "queue": "110-intake"}


def scrape(linkdesk) -> dict[tuple, float]:
    """Every sample of linkdesk's /metrics: (name, sorted labels) → value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{linkdesk.http_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def bucket_of(seconds: float, bounds) -> str:
    return str(next((b for b in bounds if seconds <= b), "+Inf"))


async def _queue_entries(ami, queue: str) -> list:
    """The callers Asterisk has waiting in `queue` (QueueStatus' QueueEntry events)."""
    return [m for m in await AmiActions(ami.connection).queue_status(queue) if m.get("Event") == "QueueEntry"]


async def _until_in_queue(ami, queue: str, predicate, timeout: float = 15.0) -> list:
    """Poll QueueStatus until `predicate(entries)` holds; the entries."""
    async with asyncio.timeout(timeout):
        while not predicate(entries := await _queue_entries(ami, queue)):
            await asyncio.sleep(0.2)   # between polls
    return entries


async def _hang_up_waiting(ami, number: str) -> None:
    """The caller gives up while Asterisk has them waiting in the queue."""
    joined = await ami.wait_for("QueueCallerJoin", CallerIDNum=number)
    await _until_in_queue(ami, joined.Queue, lambda entries: any(e.get("Uniqueid") == joined.Uniqueid
                                                                 for e in entries))
    await ami.connection.send({"Action": "Hangup", "Channel": joined.Channel})
    await ami.wait_for("QueueCallerAbandon", Uniqueid=joined.Uniqueid)


@on_loop
async def test_a_day_in_miniature_is_counted_exactly(lab, phones, linkdesk):
    async with EventRecorder(lab["110"]) as ami110, EventRecorder(lab["12345"]) as ami12345:
        # Nobody is at the desk: one caller gives up, one times out.
        phones.citizen(lab["110"], "110", "13900000001", talk_seconds=30)
        await _hang_up_waiting(ami110, "13900000001")
        phones.citizen(lab["110"], "1109", "13900000002", talk_seconds=30)
        await ami110.wait_for("QueueCallerLeave", CallerIDNum="13900000002", timeout=15)

        # An operator answers one caller, and hands another to 12345 by key.
        operator = phones.operator(lab["110"].operators[0], answer_after=0.5)
        citizen = phones.citizen(lab["110"], "110", "13900000003", talk_seconds=3)
        joined = await ami110.wait_for("QueueCallerJoin", CallerIDNum="13900000003")
        answered = await ami110.wait_for("AgentConnect", CallerIDNum="13900000003")
        waited = float(answered.Timestamp) - float(joined.Timestamp)
        await citizen.finished(30)
        operator.stop()
        keyed = phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
        # the receiver accepts at the whisper at once (key 1)
        receivers = [phones.operator(op, answer_after=0.5, press="1", press_after=0.3)
                     for op in lab["12345"].operators]
        handed = phones.citizen(lab["110"], "110", "13900000004", talk_seconds=6)
        await ami12345.wait_for("AgentConnect", CallerIDNum="13900000004", timeout=20)
        await handed.finished(30)
        for phone in (keyed, *receivers):
            phone.stop()

        # 12345 sends an emergency to 110 over the special number (a three-way call).
        phones.operator(lab["110"].operators[0], answer_after=0.5)
        phones.operator(lab["12345"].operators[0], press="*9", press_after=1.0)
        phones.citizen(lab["12345"], "12345", "13900000005", talk_seconds=8)
        await ami110.wait_for("AgentConnect", CallerIDNum="13900000005", Queue="110-emergency", timeout=20)

        # The emergency's answer reaches linkdesk from both PBXs (110's
        # AgentConnect, 12345's dialplan event) in either order: wait for both.
        samples = await until(lambda: (s := scrape(linkdesk)) and sample(
            s, "linkdesk_queue_calls_timed_out_total", **INTAKE) == 1 and sample(
            s, "linkdesk_transfers_total", direction="12345_to_110", pbx="12345", mode="warm", lane="emergency",
            result="completed") == 1 and sample(
            s, "linkdesk_queue_calls_answered_total", pbx="110", queue="110-emergency") >= 1 and s, timeout=15)

    counted = {name: sample(samples, f"linkdesk_queue_calls_{name}_total", **INTAKE)
               for name in ("entered", "answered", "abandoned", "timed_out")}
    assert counted == {"entered": 4, "answered": 2, "abandoned": 1, "timed_out": 1}
    emergency = {"pbx": "110", "queue": "110-emergency"}
    assert sample(samples, "linkdesk_queue_calls_entered_total", **emergency) == 1
    assert sample(samples, "linkdesk_queue_calls_answered_total", **emergency) == 1
    assert sample(samples, "linkdesk_queue_calls_entered_total", pbx="12345", queue="12345-intake") == 2
    assert sample(samples, "linkdesk_transfers_total", direction="110_to_12345", pbx="110", mode="blind", lane="normal",
                  result="completed") == 1
    bound = bucket_of(waited, (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0))
    first_answer = sample(samples, "linkdesk_queue_wait_seconds_bucket", **INTAKE, le=bound)
    assert first_answer >= 1, f"the first answered caller waited {waited:.1f} s, in the bucket le={bound}"
    assert sample(samples, "linkdesk_emergency_answer_seconds_count") == 1
    assert sample(samples, "linkdesk_diversion_ratio") == 1.0, "one non-police call, handed on"
    assert sample(samples, "linkdesk_ami_connected", pbx="110") == 1


@on_loop
async def test_after_a_restart_gauges_are_right_again_and_counters_start_from_zero(lab, phones, tmp_path):
    first = Linkdesk(tmp_path)
    try:
        await first.ready()
        async with EventRecorder(lab["110"]) as ami110:
            phones.citizen(lab["110"], "110", "13900000006", talk_seconds=30)
            await ami110.wait_for("QueueCallerJoin", CallerIDNum="13900000006")
            await until(lambda: sample(scrape(first), "linkdesk_queue_callers_waiting", **INTAKE) == 1)
            first.kill()
            phones.citizen(lab["110"], "110", "13900000007", talk_seconds=30)   # joins while linkdesk is away
            await ami110.wait_for("QueueCallerJoin", CallerIDNum="13900000007")
            # linkdesk stays away until Asterisk has the first caller waiting 3 s,
            # the wait the restarted linkdesk must then report from QueueStatus.
            await _until_in_queue(ami110, INTAKE["queue"],
                                  lambda entries: max((int(e.get("Wait") or 0) for e in entries), default=0) >= 3)
    finally:
        first.stop()
    second = Linkdesk(tmp_path)
    try:
        await second.ready()
        samples = await until(lambda: (s := scrape(second)) and sample(
            s, "linkdesk_queue_callers_waiting", **INTAKE) == 2 and s, timeout=10)
        assert sample(samples, "linkdesk_queue_longest_wait_seconds", **INTAKE) >= 3, "from Asterisk's Wait"
        assert sample(samples, "linkdesk_queue_calls_entered_total", **INTAKE) == 0, "no invented history"
        assert sample(samples, "linkdesk_ami_reconnects_total", pbx="110") == 0
    finally:
        second.stop()


@on_loop
async def test_a_real_prometheus_scrapes_linkdesk_and_answers_for_the_queue_series(lab, linkdesk, tmp_path):
    binaries = prometheus.bin_dir(default_paths())
    assert (binaries / "prometheus").exists(), "run `linkdesk lab provision` (./run test does)"
    port = free_tcp_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{Path(__file__).resolve().parents[1] / 'metrics' / 'alerts.yml'}"]
scrape_configs:
  - job_name: linkdesk
    static_configs: [{{targets: ["127.0.0.1:{linkdesk.http_port}"]}}]
""")
    server = subprocess.Popen([str(binaries / "prometheus"), f"--config.file={config}",
                               f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))
    try:
        def query() -> list:
            url = f"http://127.0.0.1:{port}/api/v1/query?query=linkdesk_queue_callers_waiting"
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    return json.loads(reply.read())["data"]["result"]
            except OSError:
                return []

        series = await until(query, timeout=30, every=0.5)
        queues = {(s["metric"]["pbx"], s["metric"]["queue"]) for s in series}
        assert {("110", "110-intake"), ("110", "110-emergency"), ("12345", "12345-intake")} <= queues
        assert all(s["metric"]["job"] == "linkdesk" for s in series)
    finally:
        stop_child(server, grace=10)


@on_loop
async def test_the_disposition_key_marks_non_police_calls_for_the_diversion_ratio(lab, phones, tmp_path):
    linkdesk = Linkdesk(tmp_path, extra_config='[metrics]\ndiversion = "disposition"\n')
    try:
        await linkdesk.ready()
        async with EventRecorder(lab["12345"]) as ami12345:
            operator = phones.operator(lab["110"].operators[0], press="*8 *5", press_after=1.0)
            receivers = [phones.operator(op, answer_after=0.5) for op in lab["12345"].operators]
            phones.citizen(lab["110"], "110", "13900000008", talk_seconds=8)
            await ami12345.wait_for("AgentConnect", CallerIDNum="13900000008", timeout=20)
            for phone in (operator, *receivers):
                phone.stop()
        phones.operator(lab["110"].operators[0], press="*8", press_after=1.0)
        phones.citizen(lab["110"], "110", "13900000009", talk_seconds=5)
        samples = await until(lambda: (s := scrape(linkdesk)) and sample(
            s, "linkdesk_non_police_calls_total") == 2 and s, timeout=20)
        assert sample(samples, "linkdesk_diverted_calls_total") == 1
        assert sample(samples, "linkdesk_diversion_ratio") == 0.5
        assert sample(samples, "linkdesk_agi_sessions_total", route="non_police", result="ok") == 2
    finally:
        linkdesk.stop()
