"""`linkdesk serve` as a service manager sees it: every fatal start-up error
is one line on stderr and a non-zero exit; readiness and watchdog reach
$NOTIFY_SOCKET; SIGTERM drains what is in flight and exits 0; SIGHUP
reloads the log settings and drops no connection."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket

import pytest

from polling import poll
from serving import Served, run_serve


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    return lines[0]


def test_a_taken_fastagi_port_exits_3_with_one_line_naming_it(tmp_path):
    served = Served(tmp_path, start=False)
    with socket.create_server(("127.0.0.1", served.agi_port)):
        out = run_serve(served.config)
    assert out.returncode == 3
    assert _one_line(out.stderr) == \
        f"linkdesk: cannot listen for FastAGI on 127.0.0.1:{served.agi_port}: Address already in use"


def test_a_taken_http_port_exits_3_with_one_line_naming_it(tmp_path):
    served = Served(tmp_path, start=False)
    with socket.create_server(("127.0.0.1", served.http_port)):
        out = run_serve(served.config)
    assert out.returncode == 3
    assert _one_line(out.stderr) == \
        f"linkdesk: cannot listen for HTTP on 127.0.0.1:{served.http_port}: Address already in use"


def test_an_unreadable_config_exits_2_with_one_line(tmp_path):
    out = run_serve(tmp_path / "absent.toml")
    assert out.returncode == 2
    assert _one_line(out.stderr) == f"linkdesk: cannot read config file {tmp_path / 'absent.toml'}: " \
                                    "No such file or directory"


@pytest.mark.parametrize("setting, message", [
    ('[log]\nlevel = "loud"', "linkdesk: log.level: one of debug, info, warning, error, got 'loud'"),
    ('[log]\nformat = "xml"', "linkdesk: log.format: one of plain, json, got 'xml'"),
    ("[service]\ndrain_seconds = -1", "linkdesk: service.drain_seconds: seconds from 0 to 300, got -1"),
    ("[service]\ndrain = 5", "linkdesk: service: unknown setting(s) drain"),
])
def test_a_bad_process_setting_exits_2_with_one_line_naming_it(tmp_path, setting, message):
    served = Served(tmp_path, extra=setting, start=False)
    out = run_serve(served.config)
    assert (out.returncode, _one_line(out.stderr)) == (2, message)
    assert not served.store.exists(), "nothing was started"


def test_a_store_that_cannot_be_opened_exits_4_with_one_line(tmp_path):
    served = Served(tmp_path, start=False)
    served.store.write_bytes(b"not a database, " * 100)
    out = run_serve(served.config)
    assert out.returncode == 4
    assert _one_line(out.stderr) == f"linkdesk: cannot open the store {served.store}: file is not a database"


def test_serve_tells_notify_socket_ready_then_pings_the_watchdog(tmp_path):
    """READY=1 comes once both ports listen; WATCHDOG=1 every half WatchdogSec; STOPPING=1 on SIGTERM."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(path)
        notify.settimeout(20)
        served = Served(tmp_path, env={**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        try:
            first = notify.recv(4096).decode()
            assert first.splitlines() == ["READY=1", "STATUS=serving"]
            for port in (served.http_port, served.agi_port):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            pings = [notify.recv(4096).decode() for _ in range(3)]
            assert pings == ["WATCHDOG=1"] * 3
            served.signal(signal.SIGTERM)
            assert _next_not_a_ping(notify).splitlines() == ["STOPPING=1", "STATUS=draining"]
            assert served.exit_code() == 0
        finally:
            served.stop()


def _next_not_a_ping(notify: socket.socket) -> str:
    while (message := notify.recv(4096).decode()) == "WATCHDOG=1":
        pass
    return message


def _agi_session(port: int) -> socket.socket:
    """A FastAGI session of the `ping` route, left waiting on its first command's reply."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"agi_network: yes\nagi_network_script: ping\nagi_channel: PJSIP/1101-00000001\n"
                 b"agi_uniqueid: 1700000000.1\nagi_callerid: 13800138000\n\n")
    assert _read_line(sock) == b'GET VARIABLE "CALLERID(num)"'
    return sock


def _read_line(sock: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line.rstrip(b"\n")


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_takes_no_new_session_finishes_the_one_in_flight_and_exits_0(tmp_path):
    served = Served(tmp_path)
    try:
        served.serving()
        session = _agi_session(served.agi_port)
        served.signal(signal.SIGTERM)
        served.wait_for(r"stopping: no new FastAGI sessions or HTTP requests; up to 10 s for 1 FastAGI session")
        assert poll(lambda: _refused(served.agi_port) and _refused(served.http_port), timeout=5)
        assert served.process.poll() is None, "still finishing the session in flight"
        session.sendall(b"200 result=1 (13800138000)\n")
        assert _read_line(session) == b'SET VARIABLE "LINKDESK_PING" "pong 13800138000"'
        session.sendall(b"200 result=1\n")
        assert _read_line(session) == b'SET VARIABLE "LINKDESK_RESULT" "ok"'
        assert served.exit_code() == 0
        assert "stopped: everything in flight finished" in served.text()
    finally:
        served.stop()


def test_sigterm_stops_at_the_drain_bound_when_a_session_never_ends(tmp_path):
    served = Served(tmp_path, extra="[service]\ndrain_seconds = 0.5")
    try:
        served.serving()
        session = _agi_session(served.agi_port)
        served.signal(signal.SIGTERM)
        assert served.exit_code() == 0
        assert "stopped after the 0.5 s drain bound with 1 FastAGI session(s)" in served.text()
        session.close()
    finally:
        served.stop()


def _get(connection: http.client.HTTPConnection, path: str) -> int:
    connection.request("GET", path)
    reply = connection.getresponse()
    reply.read()
    return reply.status


def test_sighup_reloads_the_log_level_and_format_and_drops_no_connection(tmp_path):
    served = Served(tmp_path)
    try:
        served.serving()
        api = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=10)
        assert _get(api, "/healthz") == 503      # AMI down: the PBX is not there
        session = _agi_session(served.agi_port)
        served.write_config('[log]\nlevel = "debug"\nformat = "json"')
        served.signal(signal.SIGHUP)
        served.wait_for(r"SIGHUP: configuration reloaded \(log level debug, format json\)")
        assert _get(api, "/healthz?after=reload") == 503, "the same keep-alive connection still answers"
        session.sendall(b"200 result=1 (13800138000)\n")
        assert _read_line(session) == b'SET VARIABLE "LINKDESK_PING" "pong 13800138000"'
        access = json.loads(served.wait_for(r'\{[^\n]*"logger": "linkdesk.access"[^\n]*\}').group(0))
        assert (access["path"], access["level"]) == ("/healthz", "info")
        assert served.process.poll() is None
    finally:
        served.stop()
    assert served.exit_code() == 0


def test_a_sighup_with_a_broken_config_keeps_the_running_one(tmp_path):
    served = Served(tmp_path)
    try:
        served.serving()
        served.config.write_text(served.config.read_text() + '\n[log]\nlevel = "loud"\n')
        served.signal(signal.SIGHUP)
        served.wait_for(r"ERROR linkdesk: SIGHUP: the configuration was not reloaded, the running one stays: "
                        r"log.level: one of")
        api = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=10)
        assert _get(api, "/healthz") == 503
        assert served.process.poll() is None
    finally:
        served.stop()
    assert served.exit_code() == 0


def test_ctrl_c_drains_as_sigterm_does_and_exits_0(tmp_path):
    served = Served(tmp_path)
    try:
        served.serving()
        served.signal(signal.SIGINT)
        assert served.exit_code() == 0
        assert "stopped: everything in flight finished" in served.text()
    finally:
        served.stop()


def test_log_format_json_makes_every_line_one_json_object(tmp_path):
    served = Served(tmp_path, extra='[log]\nformat = "json"')
    try:
        served.serving()
        api = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=10)
        assert _get(api, "/healthz") == 503
        served.wait_for(r'"logger": "linkdesk.access"')
    finally:
        served.stop()
    lines = [json.loads(line) for line in served.text().splitlines()]
    assert {"at", "level", "logger", "message"} <= set(lines[0])
    assert lines[-1]["message"].startswith("stopped: everything in flight finished")


class _Reactor:
    """What on_stop_signals needs of a reactor: its queue of calls from a signal handler."""

    def __init__(self, running: bool):
        self.running, self.queued, self.when_running, self.stopped = running, [], [], 0

    def callFromThread(self, f, *args):
        self.queued.append((f, args))

    def callWhenRunning(self, f):
        self.when_running.append(f)

    def stop(self):
        self.stopped += 1


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_before_the_reactor_runs_is_kept_for_it(number):
    """The "serving" line is written before the reactor starts (and Twisted
    installs its handlers): a Ctrl-C in that gap must still stop, not be a
    KeyboardInterrupt that a start-up trigger swallows."""
    from linkdesk.bridge.app.serve import on_stop_signals
    saved = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    fake = _Reactor(running=False)
    try:
        on_stop_signals(fake)
        os.kill(os.getpid(), number)
    finally:
        for n, handler in saved.items():
            signal.signal(n, handler)
    assert len(fake.queued) == 1, "the signal queued exactly one call for the reactor"
    f, args = fake.queued[0]
    f(*args)
    assert fake.stopped == 0 and len(fake.when_running) == 1
    fake.when_running[0]()
    assert fake.stopped == 1


def test_a_stop_signal_while_running_stops_the_reactor():
    from linkdesk.bridge.app.serve import on_stop_signals
    saved = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    fake = _Reactor(running=True)
    try:
        on_stop_signals(fake)
        os.kill(os.getpid(), signal.SIGINT)
    finally:
        for n, handler in saved.items():
            signal.signal(n, handler)
    f, args = fake.queued[0]
    f(*args)
    assert fake.stopped == 1
