"""The AGI path against the real 110 PBX: the dialplan runs the `ping` route,
over FastAGI and through the classic entry point, and the test reads what it
left on the channel back with AMI Getvar."""

from __future__ import annotations

import asyncio

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred

from linkdesk.agi.fastagi import AgiLimits, FastAgiFactory
from linkdesk.agi.hosting import listen
from ami_probe import EventRecorder, on_loop
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.agi_routes import build_route_table

CITIZEN = "13800138000"
pytestmark = pytest.mark.lab


def _wait(coroutine):
    return pytest_twisted.blockon(Deferred.fromFuture(asyncio.ensure_future(coroutine, loop=event_loop())))


@pytest.fixture
def fastagi_server():
    """linkdesk's FastAGI server on 127.0.0.1:4573, the address the lab dialplan calls
    (LINKDESK_AGI in asterisk-config/110/extensions.conf): a fixed port on purpose,
    since the PBX, not the test, chooses where to connect."""
    factory = FastAgiFactory(build_route_table(), AgiLimits(), event_loop())
    server = _wait(listen(factory, "127.0.0.1", 4573))
    yield factory
    server.close()
    _wait(server.wait_closed())


async def _run_in_dialplan(pbx, exten: str):
    """Originate into lab-tests/<exten>; return the AMI watcher and the report event."""
    ami = EventRecorder(pbx)
    await ami.__aenter__()
    replies = await ami.connection.send({
        "Action": "Originate", "Channel": f"Local/{exten}@lab-tests", "Application": "Wait",
        "Data": "30", "CallerID": f'"Citizen" <{CITIZEN}>', "Async": "true"})
    assert [r.Response for r in replies] == ["Success", "Success"], replies
    report = await ami.wait_for("UserEvent", UserEvent="LinkdeskLabAgi")
    return ami, report


async def _getvar(ami, channel: str, variable: str) -> str:
    reply = await ami.connection.send({"Action": "Getvar", "Channel": channel, "Variable": variable})
    assert reply.Response == "Success", reply
    return reply.Value


async def _finish(ami, channel: str) -> None:
    await ami.connection.send({"Action": "Hangup", "Channel": channel})
    await ami.__aexit__()


@on_loop
async def test_fastagi_route_reads_callerid_and_sets_a_variable(lab, fastagi_server):
    ami, report = await _run_in_dialplan(lab["110"], "fastagi-ping")
    try:
        assert (report.Kind, report.Result, report.Reason) == ("fastagi", "ok", "")
        assert await _getvar(ami, report.Channel, "LINKDESK_PING") == f"pong {CITIZEN}"
        assert await _getvar(ami, report.Channel, "AGISTATUS") == "SUCCESS"
    finally:
        await _finish(ami, report.Channel)


@on_loop
async def test_fastagi_unknown_route_lets_the_dialplan_continue_with_a_reason(lab, fastagi_server):
    ami, report = await _run_in_dialplan(lab["110"], "fastagi-nosuch")
    try:
        assert (report.Result, report.Reason) == ("error", "agi-unknown-route")
        assert await _getvar(ami, report.Channel, "LINKDESK_PING") == ""
    finally:
        await _finish(ami, report.Channel)


@on_loop
async def test_classic_entry_point_run_by_the_pbx_does_the_same(lab):
    ami, report = await _run_in_dialplan(lab["110"], "classic-ping")
    try:
        assert (report.Kind, report.Result, report.Reason) == ("classic", "ok", "")
        assert await _getvar(ami, report.Channel, "LINKDESK_PING") == f"pong {CITIZEN}"
    finally:
        await _finish(ami, report.Channel)


@on_loop
async def test_linkdesk_serve_answers_the_dialplans_fastagi_calls(lab):
    """The whole process, as `linkdesk serve --lab` runs it, serves the route."""
    from test_serve import Serving, _healthz, _until

    serving = Serving("--lab")   # FastAGI on its default, 4573: the port the lab dialplan calls
    try:
        healthy = await asyncio.to_thread(_until, lambda: (h := _healthz(serving.port)) and h[0] == 200, 20)
        assert healthy, serving.stop()[1]
        ami, report = await _run_in_dialplan(lab["110"], "fastagi-ping")
        try:
            assert (report.Result, report.Reason) == ("ok", "")
            assert await _getvar(ami, report.Channel, "LINKDESK_PING") == f"pong {CITIZEN}"
        finally:
            await _finish(ami, report.Channel)
    finally:
        code, log = serving.stop()
    assert code == 0, log
