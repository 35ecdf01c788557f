"""Transport security against the real lab PBXs: linkdesk logs in to the 110
PBX's AMI over TLS (the certificate `lab up` made, pinned) and hears its
events; FastAGI sessions from the 110 PBX act for 110 and are refused when
they claim 12345."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from ami_probe import on_loop
from lab_linkdesk import Linkdesk, free_tcp_port
from linkdesk.ami.connection import AmiConnection, AmiEndpoint
from linkdesk.bridge.lab.layout import default_paths
from polling import until

pytestmark = pytest.mark.lab
CITIZEN = "13800138000"


def tls_endpoint(spec) -> AmiEndpoint:
    """The 110 PBX's AMI over TLS, verified against the certificate `lab up` made for it."""
    return AmiEndpoint(spec.name, spec.ami_host, spec.ami_tls_port, spec.ami_user, spec.ami_secret,
                       tls=True, tls_ca=str(default_paths().ami_certificate(spec.name)))


@pytest.fixture
def secured(lab, tmp_path):
    """`linkdesk serve --lab` logged in to 110 over TLS, with each PBX's FastAGI
    bound to 127.0.0.1 and its own port (110: the lab's 4573)."""
    tls = tls_endpoint(lab["110"])
    linkdesk = Linkdesk(tmp_path, extra_config=f"""
[pbx.110]
ami_port = {tls.port}
tls = true
tls_ca = "{tls.tls_ca}"
agi_peers = ["127.0.0.1"]

[pbx.12345]
agi_peers = ["127.0.0.1"]
agi_port = {free_tcp_port()}
""")
    try:
        linkdesk.wait_ready()
        yield linkdesk
    finally:
        linkdesk.stop()


async def run_in_dialplan(connection: AmiConnection, exten: str, events: list):
    """Originate into 110's lab-tests/<exten>; the UserEvent its AGI step reports."""
    reply = await connection.send({"Action": "Originate", "Channel": f"Local/{exten}@lab-tests",
                                   "Application": "Wait", "Data": "30", "CallerID": f'"Citizen" <{CITIZEN}>',
                                   "Async": "true"})
    assert [r.Response for r in reply] == ["Success", "Success"], reply
    report = await until(lambda: next((e for e in events if e.name == "UserEvent"
                                       and e.get("UserEvent") == "LinkdeskLabAgi"
                                       and e.get("Channel", "").startswith(f"Local/{exten}@")), None), 20)
    await connection.send({"Action": "Hangup", "Channel": report.Channel})
    return report


@contextlib.asynccontextmanager
async def tls_login(spec):
    """The test's own AMI login to `spec`'s PBX over TLS; (connection, every event it hears)."""
    events: list = []
    connection = AmiConnection(tls_endpoint(spec), asyncio.get_running_loop())
    connection.subscribe("*", events.append)
    connection.start()
    try:
        await connection.wait_logged_in(10)
        yield connection, events
    finally:
        connection.close()


@on_loop
async def test_linkdesk_logs_in_to_the_110_pbx_over_tls_and_hears_its_events(lab, secured):
    status, health = await secured.api("GET", "/healthz", token=None)
    assert (status, health["pbx"]["110"]) == (200, {"ami": "logged-in"}), health
    assert f"AMI logged in to PBX 110 at 127.0.0.1:{lab['110'].ami_tls_port} over TLS" in secured.log()
    async with tls_login(lab["110"]) as (connection, events):
        report = await run_in_dialplan(connection, "fastagi-ping", events)
    # Heard over TLS: the route ran (linkdesk's FastAGI, bound to 110) and said so.
    assert (report.Result, report.Reason) == ("ok", "")


@on_loop
async def test_a_fastagi_session_from_the_110_pbx_acts_for_110_and_is_refused_for_12345(lab, secured):
    async with tls_login(lab["110"]) as (connection, events):
        accepted = await run_in_dialplan(connection, "fastagi-as-110", events)
        refused = await run_in_dialplan(connection, "fastagi-as-12345", events)
    assert (accepted.Result, accepted.Reason) == ("ok", "")
    assert (refused.Result, refused.Reason) == ("error", "agi-pbx-refused")
    assert "may act for 110, not PBX '12345'" in secured.log()
