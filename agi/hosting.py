"""Serves a Twisted protocol factory on the asyncio reactor's loop, straight
on non-blocking sockets registered with that loop.

Why neither Twisted's nor asyncio's TCP transport: a FastAGI session is a
handful of tiny lines, so what a transport costs per connection is most of
what a session costs. Twisted's transport defers every write to the next
reactor turn (adding and removing a writer: two epoll_ctl calls per
command). asyncio's starts a Task per accepted connection, asks the kernel
for both addresses, and schedules connection_made a loop turn later; and
with a plain Protocol every recv() allocates a 256 KiB bytes object, above
malloc's mmap threshold, so each reply line cost an mmap, an mremap and a
munmap (strace -c: 15,000 of 33,000 system calls for 1,000 sessions).
Here a write is one send(), a read is one recv_into() into a buffer all
connections share, and a connection costs accept, two socket options and
its epoll registration. `bench/agi.py` measures the difference.

The protocol stays a Twisted LineReceiver, tested on a StringTransport like
any other; this is the part of ITransport it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure

log = logging.getLogger("linkdesk.agi")

# A clean close is the common case; building a Failure for each costs more
# than the rest of closing the session.
_DONE = Failure(ConnectionDone())
_CORK = getattr(socket, "TCP_CORK", None)
# Big enough for a whole environment block in one read; longer data simply
# arrives over several reads.
READ_SIZE = 65536
# Accepts per wake-up: a burst of new calls must not starve sessions already open.
ACCEPTS_PER_WAKE = 64
# Out of descriptors or memory: stop accepting for a while instead of spinning.
_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
RESOURCE_PAUSE = 1.0
# Asterisk writes the agi_* block as soon as it connects: the kernel hands a
# connection over only once that data is in, one wake-up instead of two. A
# peer that stays silent is handed over after about this many seconds, and
# then meets the protocol's idle timeout.
DEFER_ACCEPT_SECONDS = 3


class SocketTransport:
    """One accepted connection. Writes go out at once; what the kernel does not
    take waits for the socket to drain. connectionLost comes one loop turn
    after the close, never from inside the call that closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, peer, protocol,
                 buffer: memoryview):
        self._loop, self._sock, self._fd = loop, sock, sock.fileno()
        self._peer, self._protocol, self._buffer = peer, protocol, buffer
        self._unsent = bytearray()
        self._closed = False
        self.disconnecting = False

    def start(self) -> None:
        self._loop.add_reader(self._fd, self._readable)
        self._protocol.makeConnection(self)
        if not self._closed:
            # Accepted once data was in (TCP_DEFER_ACCEPT): read it now rather
            # than one epoll round later.
            self._readable()

    def _readable(self) -> None:
        try:
            count = self._sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._close(exc)
            return
        if not count:
            self._close(None)
            return
        try:
            # The buffer is shared: the bytes are copied out before any other read.
            self._protocol.dataReceived(self._buffer[:count].tobytes())
        except Exception:
            # A broken protocol must not leave the call waiting on an open socket.
            log.exception("FastAGI protocol failed on data; connection closed")
            self.abortConnection()

    def write(self, data: bytes) -> None:
        if self.disconnecting or self._closed or not data:
            return
        if self._unsent:
            self._unsent += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._close(exc)
            return
        if sent < len(data):
            self._unsent += memoryview(data)[sent:]
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._close(exc)
            return
        del self._unsent[:sent]   # cheap at the front of a bytearray
        if not self._unsent:
            self._loop.remove_writer(self._fd)
            if self.disconnecting:
                self._close(None)

    def writeSequence(self, data) -> None:
        self.write(b"".join(data))

    def write_and_close(self, data: bytes) -> None:
        """Write `data` and close, the data and the FIN in one TCP segment."""
        if self.disconnecting or self._closed:
            return
        if _CORK is not None and not self._unsent:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, _CORK, 1)
        self.write(data)
        self.loseConnection()

    def loseConnection(self) -> None:
        """Close once everything written has gone out."""
        if self.disconnecting or self._closed:
            return
        self.disconnecting = True
        if not self._unsent:
            self._close(None)

    def abortConnection(self) -> None:
        """Close now; unsent data is dropped."""
        self.disconnecting = True
        self._close(None)

    def _close(self, error: OSError | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._unsent:
            self._loop.remove_writer(self._fd)
            self._unsent.clear()
        self._sock.close()
        reason = _DONE if error is None else Failure(ConnectionLost(str(error)))
        self._loop.call_soon(self._lost, reason)

    def _lost(self, reason: Failure) -> None:
        # The protocol holds its transport and the transport its protocol:
        # once the protocol has heard of the close, the transport lets go,
        # so a finished session is freed at once, not by a full collection.
        protocol, self._protocol = self._protocol, None
        protocol.connectionLost(reason)

    def getPeer(self) -> IPv4Address | IPv6Address:
        return _address(self._sock.family, self._peer)

    def getHost(self) -> IPv4Address | IPv6Address:
        """The local address; asked while connected (a system call nobody else needs)."""
        return _address(self._sock.family, self._sock.getsockname())

    def pauseProducing(self) -> None:
        if not self._closed:
            self._loop.remove_reader(self._fd)

    def resumeProducing(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._fd, self._readable)


def _address(family: int, address) -> IPv4Address | IPv6Address:
    kind = IPv6Address if family == socket.AF_INET6 else IPv4Address
    return kind("TCP", *address[:2])


class Listener:
    """A listening socket whose connections are served by `factory`'s protocols."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, factory):
        self._loop, self._sock, self._factory = loop, sock, factory
        self.sockets = (sock,)
        self._buffer = memoryview(bytearray(READ_SIZE))
        self._paused = None
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                conn, peer = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRORS:
                    self._pause(exc)
                    return
                continue  # a connection reset before it was taken; take the next
            self._serve(conn, peer)

    def _serve(self, conn: socket.socket, peer) -> None:
        try:
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            conn.close()
            return
        try:
            protocol = self._factory.buildProtocol(_address(conn.family, peer))
            SocketTransport(self._loop, conn, peer, protocol, self._buffer).start()
        except Exception:
            log.exception("FastAGI connection from %s could not be served; closed", peer[0])
            conn.close()

    def _pause(self, error: OSError) -> None:
        log.error("FastAGI cannot accept: %s; new calls wait %.0f s", error, RESOURCE_PAUSE)
        self._loop.remove_reader(self._sock.fileno())
        self._paused = self._loop.call_later(RESOURCE_PAUSE, self._resume)

    def _resume(self) -> None:
        self._paused = None
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting; sessions already open run on to their end."""
        if self._sock.fileno() < 0:
            return
        if self._paused is not None:
            self._paused.cancel()
        else:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    async def wait_closed(self) -> None:
        return None


async def listen(factory, host: str, port: int, backlog: int = 1024) -> Listener:
    """Serve `factory`'s protocols on host:port; close the returned listener to stop."""
    return bind(factory, host, port, asyncio.get_running_loop(), backlog)


def bind(factory, host: str, port: int, loop: asyncio.AbstractEventLoop, backlog: int = 1024) -> Listener:
    """`listen`, from outside the loop (start-up, before it runs): OSError
    at once when the port cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    if hasattr(socket, "TCP_DEFER_ACCEPT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECONDS)
    sock.setblocking(False)
    return Listener(loop, sock, factory)
