"""One process, one loop: Twisted's asyncio reactor and panoramisk share it."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import panoramisk
import pytest
from twisted.internet import asyncioreactor, reactor, task

from linkdesk.ami.connection import AmiConnection
from ami_probe import endpoint_of, on_loop


@pytest.mark.lab
@on_loop
async def test_panoramisk_runs_on_the_reactors_asyncio_loop(lab):
    loop = asyncio.get_running_loop()
    assert isinstance(reactor, asyncioreactor.AsyncioSelectorReactor)
    assert loop is reactor._asyncioEventloop
    ami = AmiConnection(endpoint_of(lab["110"]), loop)
    ami.start()
    try:
        await ami.wait_logged_in(10)
        assert isinstance(ami.manager, panoramisk.Manager) and ami.manager.loop is loop
        tick = task.deferLater(reactor, 0.01, lambda: "twisted timer fired")
        pong = await ami.send({"Action": "Ping"})
        assert pong.Response == "Success" and pong.Ping == "Pong"
        assert await tick.asFuture(loop) == "twisted timer fired"
    finally:
        ami.close()


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_install_comes_before_anything_that_imports_the_reactor():
    """prometheus_client.twisted imports the reactor at load: it must find asyncio's."""
    out = _python(
        "from linkdesk.bridge.app.reactor import install_asyncio_reactor, event_loop\n"
        "loop = install_asyncio_reactor()\n"
        "import prometheus_client.twisted\n"
        "from twisted.internet import reactor\n"
        "assert event_loop() is loop\n"
        "print(type(reactor).__name__)\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "AsyncioSelectorReactor"


def test_a_reactor_installed_too_early_is_reported_clearly():
    out = _python(
        "import twisted.internet.reactor\n"
        "from linkdesk.bridge.app.reactor import install_asyncio_reactor\n"
        "install_asyncio_reactor()\n")
    assert out.returncode != 0
    assert "install_asyncio_reactor() must run before the reactor is imported" in out.stderr
