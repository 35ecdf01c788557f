"""FastAGI's own socket hosting, over real loopback TCP on the reactor's loop:
a whole session, writes the kernel cannot take at once, closes and resets,
a broken protocol, running out of descriptors, and a peer that stays silent."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import socket
import weakref

import pytest
from twisted.internet import protocol
from twisted.internet.error import ConnectionDone, ConnectionLost

import linkdesk.agi.hosting as hosting
from linkdesk.agi.fastagi import AgiLimits, FastAgiFactory
from agi_chat import env_block, settle
from ami_probe import on_loop
from polling import until
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.agi_routes import build_route_table


class Recorder(protocol.Protocol):
    """Records what reaches it; `on_data(self, data)` decides what it does."""

    def __init__(self, on_data=None):
        self.on_data = on_data
        self.received = b""
        self.lost: list = []
        self.lost_inside_a_call = False
        self._in_call = False
        self.gone = asyncio.get_running_loop().create_future()

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.on_data is not None:
            self._in_call = True
            try:
                self.on_data(self, data)
            finally:
                self._in_call = False

    def connectionLost(self, reason=None) -> None:
        self.lost_inside_a_call = self.lost_inside_a_call or self._in_call
        self.lost.append(reason)
        if not self.gone.done():
            self.gone.set_result(reason)


class OneProtocol(protocol.ServerFactory):
    def __init__(self, make):
        self.make, self.built = make, []

    def buildProtocol(self, addr):
        self.built.append(self.make())
        return self.built[-1]


async def _serve(factory, host="127.0.0.1"):
    listener = await hosting.listen(factory, host, 0)
    return listener, listener.sockets[0].getsockname()[:2]


@contextlib.asynccontextmanager
async def _serving(factory, host="127.0.0.1"):
    """(listener, address) of a listener on a free port, closed afterwards."""
    listener, address = await _serve(factory, host)
    try:
        yield listener, address
    finally:
        listener.close()


async def _read_to_eof(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 10)



@on_loop
async def test_a_ping_session_over_tcp_ends_with_its_last_command_and_a_close():
    factory = FastAgiFactory(build_route_table(), AgiLimits(), event_loop())
    async with _serving(factory) as (listener, address):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(env_block("ping"))
        assert await reader.readline() == b'GET VARIABLE "CALLERID(num)"\n'
        writer.write(b"200 result=1 (13800138000)\n")
        assert await reader.readline() == b'SET VARIABLE "LINKDESK_PING" "pong 13800138000"\n'
        writer.write(b"200 result=1\n")
        assert await _read_to_eof(reader) == b'SET VARIABLE "LINKDESK_RESULT" "ok"\n'
        writer.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@on_loop
async def test_the_peer_address_is_the_one_that_connected(host):
    def note_addresses(me, data):
        me.addresses = me.transport.getPeer(), me.transport.getHost()
        me.transport.loseConnection()

    factory = OneProtocol(lambda: Recorder(note_addresses))
    async with _serving(factory, host) as (listener, address):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"x")
        await _read_to_eof(reader)
        peer, local = factory.built[0].addresses
        assert (peer.host, peer.port) == writer.get_extra_info("sockname")[:2]
        assert (local.host, local.port) == tuple(address)
        writer.close()


@on_loop
async def test_what_the_kernel_cannot_take_at_once_goes_out_before_the_close():
    payload = bytes(range(256)) * 32768   # 8 MiB: far beyond the socket buffers

    def send_all_and_close(me, data):
        me.transport.write(payload)
        me.transport.write(b"END")
        me.transport.loseConnection()

    factory = OneProtocol(lambda: Recorder(send_all_and_close))
    async with _serving(factory) as (listener, address):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"go")
        # Leave it unread until the server has written it all and asked to close:
        # its send() has met a full buffer, and the close waits for the rest.
        await until(lambda: factory.built and factory.built[0].received
                    and factory.built[0].transport.disconnecting, timeout=10.0, every=0.01)
        assert await _read_to_eof(reader) == payload + b"END"
        assert (await factory.built[0].gone).check(ConnectionDone)
        writer.close()


@on_loop
async def test_connection_lost_comes_once_and_never_inside_the_call_that_closed():
    def close_twice(me, data):
        me.transport.loseConnection()
        me.transport.abortConnection()
        me.transport.write(b"ignored after the close")

    factory = OneProtocol(lambda: Recorder(close_twice))
    async with _serving(factory) as (listener, address):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"x")
        assert await _read_to_eof(reader) == b""
        made = factory.built[0]
        await made.gone
        # connectionLost is scheduled with call_soon; a second one would be queued
        # no later than the first, so a few loop turns (no clock) would show it.
        await settle()
        assert len(made.lost) == 1
        assert not made.lost_inside_a_call
        writer.close()


@on_loop
async def test_a_peer_reset_is_reported_as_a_lost_connection():
    factory = OneProtocol(Recorder)
    async with _serving(factory) as (listener, address):
        client = socket.create_connection(address)
        client.sendall(b"agi_network: yes\n")
        await until(lambda: factory.built and factory.built[0].received, timeout=10.0, every=0.01)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        client.close()   # linger 0: an RST, not a FIN
        reason = await asyncio.wait_for(factory.built[0].gone, 10)
        assert reason.check(ConnectionLost)


@on_loop
async def test_a_protocol_failing_on_data_closes_the_connection(caplog):
    def fail(me, data):
        raise RuntimeError("broken protocol")

    factory = OneProtocol(lambda: Recorder(fail))
    async with _serving(factory) as (listener, address):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"x")
        assert await _read_to_eof(reader) == b""
        assert "FastAGI protocol failed on data" in caplog.text
        writer.close()


class _OutOfDescriptorsOnce:
    """A listening socket whose first accept() fails as with no descriptors left."""

    def __init__(self, real: socket.socket):
        self.real, self.failed = real, False

    def accept(self):
        if not self.failed:
            self.failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return self.real.accept()

    def fileno(self):
        return self.real.fileno()

    def close(self):
        self.real.close()


@on_loop
async def test_out_of_descriptors_pauses_accepting_then_takes_the_waiting_call(monkeypatch, caplog):
    monkeypatch.setattr(hosting, "RESOURCE_PAUSE", 0.2)
    factory = OneProtocol(lambda: Recorder(lambda me, data: me.transport.write(b"seen")))
    async with _serving(factory) as (listener, address):
        listener._sock = _OutOfDescriptorsOnce(listener._sock)
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"x")
        assert await asyncio.wait_for(reader.readexactly(4), 10) == b"seen"
        assert listener._sock.failed
        assert "FastAGI cannot accept" in caplog.text
        writer.close()


@on_loop
async def test_a_closed_listener_takes_no_more_calls():
    listener, address = await _serve(OneProtocol(Recorder))
    listener.close()
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*address)


@on_loop
async def test_a_peer_that_never_speaks_is_dropped_after_the_idle_timeout():
    # The kernel holds the silent connection for the deferred-accept period,
    # then hands it over, and the session's idle timeout closes it.
    factory = FastAgiFactory(build_route_table(), AgiLimits(idle_timeout=0.5), event_loop())
    async with _serving(factory) as (listener, address):
        reader, writer = await asyncio.open_connection(*address)
        assert await asyncio.wait_for(reader.read(), hosting.DEFER_ACCEPT_SECONDS + 10) == b""
        assert factory.active == 0
        writer.close()


class _Watched(FastAgiFactory):
    """A FastAGI factory that keeps only a weak reference to each protocol it builds."""

    def __init__(self, *args):
        super().__init__(*args)
        self.built: list[weakref.ref] = []

    def buildProtocol(self, addr):
        made = super().buildProtocol(addr)
        self.built.append(weakref.ref(made))
        return made


@on_loop
async def test_a_finished_session_is_freed_at_once_not_left_for_the_garbage_collector():
    # linkdesk raises the collector's thresholds (bridge/app/heap.py): a session
    # kept alive by a reference cycle waits for a rare full collection, and a
    # busy hour's soak saw hundreds of them (their agi_* blocks) pile up.
    factory = _Watched(build_route_table(), AgiLimits(), event_loop())
    gc.disable()
    try:
        async with _serving(factory) as (listener, address):
            for _ in range(3):
                reader, writer = await asyncio.open_connection(*address)
                writer.write(env_block("ping"))
                await reader.readline()
                writer.write(b"200 result=1 (13800138000)\n")
                await reader.readline()
                writer.write(b"200 result=1\n")
                await _read_to_eof(reader)
                writer.close()
            with contextlib.suppress(TimeoutError):
                await until(lambda: all(ref() is None for ref in factory.built), timeout=5)
            held = sum(ref() is not None for ref in factory.built)
    finally:
        gc.enable()
    assert len(factory.built) == 3
    assert held == 0, f"{held} of 3 finished sessions still held (only the garbage collector would free them)"
