"""`linkdesk demo`: one non-police call handed from 110 to 12345 with one key,
on the real lab PBXs, told as a timeline of who did what and which numbers
each side saw."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import resources
from pathlib import Path

from linkdesk.ami.connection import AmiConnection, AmiEndpoint
from linkdesk.bridge.lab import pbx as lab_pbx
from linkdesk.bridge.lab.layout import default_paths, lab_settings, load_specs
from linkdesk.bridge.lab.phones import SippPhones, require_sipp, sip_header
from linkdesk.bridge.lab.procs import stop_child

CITIZEN = "13800138000"
# The dashboard and the alert rules ship in the package, beside the collectors.
METRICS = resources.files("linkdesk.metrics")


def run(http_port: int = 8573) -> int:
    """Bring the lab up if needed, run the demo call, print the timeline."""
    require_sipp()
    paths = default_paths()
    specs = load_specs(paths)
    records = lab_pbx.load_state(paths)
    already_up = bool(records) and all(record.alive() for record in records.values())
    lab_pbx.up(paths, specs, print)
    try:
        with tempfile.TemporaryDirectory(prefix="linkdesk-demo-") as workdir:
            return asyncio.run(_demo(Path(workdir), specs, http_port))
    finally:
        if not already_up:
            lab_pbx.down(paths, print)


async def _demo(workdir: Path, specs, http_port: int) -> int:
    service, store = _start_service(workdir, http_port)
    timeline = Timeline()
    watchers = [_watch(specs[name], timeline) for name in ("110", "12345")]
    phones = SippPhones(workdir)
    try:
        await _until_healthy(http_port)
        for watcher in watchers:
            watcher.start()
            await watcher.wait_logged_in(10)
        timeline.say("citizen", f"{CITIZEN} dials 110")
        phones.operator(specs["110"].operators[0], press="*5", press_after=2.0)
        # The 12345 operator hears the whisper and accepts with its key (1) a second in.
        receivers = [phones.operator(op, answer_after=1.0, press="1", press_after=1.0)
                     for op in specs["12345"].operators]
        citizen = phones.citizen(specs["110"], "110", CITIZEN, talk_seconds=9)
        await citizen.finished(60)
        await asyncio.sleep(0.5)
        _report(receivers, http_port, store)
        return 0
    finally:
        phones.stop_all()
        for watcher in watchers:
            watcher.close()
        stop_child(service, grace=15)


class Timeline:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, who: str, what: str) -> None:
        print(f"  +{time.monotonic() - self.start:5.2f} s  {who:<9} {what}", flush=True)


def _watch(spec, timeline: Timeline) -> AmiConnection:
    connection = AmiConnection(AmiEndpoint(spec.name, spec.ami_host, spec.ami_port, spec.ami_user,
                                           spec.ami_secret), asyncio.get_running_loop())
    connection.subscribe("*", lambda event: _narrate(spec.name, event, timeline))
    return connection


def _narrate(pbx: str, event, timeline: Timeline) -> None:
    name = event.get("Event", "")
    who = f"PBX {pbx}"
    if name == "QueueCallerJoin":
        timeline.say(who, f"{event.get('CallerIDNum')} waits in queue {event.get('Queue')}")
    elif name == "AgentConnect":
        timeline.say(who, f"operator {event.get('MemberName')} answers; their phone shows {event.get('CallerIDNum')}")
    elif name == "UserEvent" and event.get("UserEvent") == "LinkdeskWhisper":
        timeline.say(who, f"operator {event.get('Receiver')} heard the whisper (from 110, order attached) "
                          f"and accepted with key {event.get('Key') or '(none)'}")
    elif name == "UserEvent" and event.get("UserEvent") == "LinkdeskTransfer":
        timeline.say(who, f"transfer {event.get('Transfer')}: {event.get('State')}")
    elif name == "Hangup" and re.match(r"PJSIP/\d{4}-", event.get("Channel", "")):
        timeline.say(who, f"operator {event['Channel'][6:10]}'s phone hangs up: free for the next call")


def _report(receivers, http_port: int, store: Path) -> None:
    invite = next((i for p in receivers if (i := p.first_invite())), "")
    seen = {h: sip_header(invite, h) or "(none)"
            for h in ("From", "P-Asserted-Identity", "X-Linkdesk-Order", "X-Linkdesk-Caller")}
    print("\nWhat the 12345 operator's phone received:")
    for header, value in seen.items():
        print(f"  {header}: {value}")
    order = seen["X-Linkdesk-Order"]
    print(f"\nThe transfer as linkdesk stored it (GET /v1/transfers/<id>, order {order}):")
    for transfer in _stored(http_port, store, order):
        print(f"  {transfer['id']}: {transfer['pbx']} → {transfer['target']}, {transfer['mode']}, "
              f"{transfer['state']}, citizen {transfer['caller_number']}")
    print(f"\nWhat a supervisor's Prometheus sees (http://127.0.0.1:{http_port}/metrics):")
    for line in _metric_lines(http_port):
        print(f"  {line}")
    print(f"\nHealth: http://127.0.0.1:{http_port}/healthz   Transfers: /v1/transfers   Orders: /v1/orders "
          f"(bearer token per platform)\nDashboard: {METRICS / 'dashboard.json'}\nAlert rules: {METRICS / 'alerts.yml'}")


SHOWN_METRICS = ("linkdesk_transfers_total", "linkdesk_queue_calls_answered_total", "linkdesk_diversion_ratio",
                 "linkdesk_orders{")


def _metric_lines(http_port: int) -> list[str]:
    """The scraped samples a supervisor would look at first, non-zero ones only."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return [line for line in text.splitlines() if line.startswith(SHOWN_METRICS)
            and not line.endswith((" 0.0", " 0"))]


def _stored(http_port: int, store: Path, order: str) -> list[dict]:
    """The transfers that created `order`, as the HTTP API shows them."""
    token = lab_settings(default_paths())["tokens"]["110"]
    with sqlite3.connect(store) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM transfers WHERE order_id = ?", (order,))]
    transfers = []
    for transfer_id in ids:
        request = urllib.request.Request(f"http://127.0.0.1:{http_port}/v1/transfers/{transfer_id}",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as reply:
            transfers.append(json.loads(reply.read())["transfer"])
    return transfers


def _start_service(workdir: Path, http_port: int) -> tuple[subprocess.Popen, Path]:
    """`linkdesk serve --lab` with a store of its own; its log stays in `workdir`."""
    store = workdir / "linkdesk.db"
    config = workdir / "linkdesk.toml"
    config.write_text(f'[store]\npath = "{store}"\n')
    with open(workdir / "linkdesk.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--lab", "--config", str(config),
                                    "--http-port", str(http_port)], stdout=log, stderr=subprocess.STDOUT)
    return process, store


async def _until_healthy(http_port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("linkdesk did not become healthy in time")
