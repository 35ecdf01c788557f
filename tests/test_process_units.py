"""The process's small parts without a process: [service] and [log]
settings, the sd_notify datagrams, JSON log lines and SIGHUP's hooks."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys

import pytest

from linkdesk.bridge.app.process_config import LogConfig, ProcessConfigError, log_config, service_config
from linkdesk.bridge.app.sd_notify import Notifier


def test_process_settings_default_and_refuse_a_wrong_type():
    assert service_config({}).drain_seconds == 10.0 and log_config({}) == LogConfig("info", "plain")
    assert service_config({"drain_seconds": 0}).drain_seconds == 0.0
    with pytest.raises(ProcessConfigError, match="service.drain_seconds"):
        service_config({"drain_seconds": True})
    with pytest.raises(ProcessConfigError, match="log: expected a table"):
        log_config("debug")


def test_notify_sends_one_datagram_of_key_value_lines_to_an_abstract_socket():
    name = f"linkdesk-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(5)
        Notifier({"NOTIFY_SOCKET": "@" + name}).notify(ready=1, status="serving")
        assert server.recv(4096) == b"READY=1\nSTATUS=serving"


def test_without_notify_socket_nothing_is_sent_and_no_watchdog_is_asked_for():
    notifier = Notifier({"WATCHDOG_USEC": "2000000"})
    notifier.notify(ready=1)
    assert notifier.watchdog_interval is None


@pytest.mark.parametrize("env, interval", [
    ({"WATCHDOG_USEC": "2000000"}, 1.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}, 1.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),     # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
])
def test_the_watchdog_interval_is_half_watchdog_usec_when_meant_for_us(tmp_path, env, interval):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), **env})
    assert notifier.watchdog_interval == interval


def test_a_json_log_line_carries_the_extra_fields_and_the_traceback():
    from linkdesk.bridge.app.logs import JsonFormatter

    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("linkdesk.x").makeRecord(
            "linkdesk.x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info(), extra={"route": "ping"})
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"], line["route"]) == ("error", "linkdesk.x", "failed once", "ping")
    assert "ValueError: boom" in line["traceback"] and line["at"].endswith("+00:00")


def test_a_reload_hook_that_fails_does_not_stop_the_others(caplog):
    from linkdesk.bridge.app.reactor import install_asyncio_reactor

    install_asyncio_reactor()
    from linkdesk.bridge.app.serve import Reloads

    applied = []

    def broken(_config):
        raise RuntimeError("cannot")

    reloads = Reloads(lambda: type("C", (), {"log": LogConfig()})(), Notifier({}))
    reloads.on_reload(broken)
    reloads.on_reload(applied.append)
    with caplog.at_level(logging.INFO, logger="linkdesk"):
        reloads.reload()
    assert len(applied) == 1
    assert "1 part(s) failed to apply it" in caplog.text and "RuntimeError: cannot" in caplog.text
