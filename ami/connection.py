"""One PBX's AMI login, kept alive: panoramisk's Manager on linkdesk's shared
loop, with a per-action timeout, a keep-alive that checks the reply, capped
exponential reconnect, and re-sync hooks run after every login."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from panoramisk import Manager

from linkdesk.ami.events import EventBus
from linkdesk.ami.keepalive import Backoff, CallLater, KeepAlive
from linkdesk.ami.protocol import AmiAction, AmiProtocol
from linkdesk.ami.wire import AmiError, encode_action

log = logging.getLogger("linkdesk.ami")

# The event classes linkdesk reads: FullyBooted (system), channels, bridges
# and ConfBridge (call), queues (agent), UserEvent (user).
EVENT_CLASSES = "system,call,agent,user"


class AmiNotConnected(AmiError):
    reason = "ami-not-connected"


class AmiActionTimeout(AmiError):
    reason = "ami-action-timeout"


@dataclass(frozen=True)
class AmiEndpoint:
    """Where and as whom to log in; the secret never appears in a repr or log."""

    name: str
    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    tls: bool = False               # log in over TLS (manager.conf tlsenable on the PBX)
    tls_ca: str | None = None       # CA file, or the PBX's pinned certificate; None: the system's

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client context for a TLS login (TLS 1.2+, the PBX's certificate
        verified for `host`); None for a plain one."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.tls_ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


@dataclass(frozen=True)
class AmiTiming:
    action_timeout: float = 5.0
    ping_interval: float = 5.0
    ping_timeout: float = 3.0
    # Reconnects and refused logins: 0.25 s doubling to 5 min, each delay cut
    # by up to half at random. A PBX with fail2ban bans a host that retries
    # every few seconds; minutes between attempts keep linkdesk welcome.
    backoff_initial: float = 0.25
    backoff_cap: float = 300.0
    backoff_jitter: float = 0.5
    boot_timeout: float = 60.0


class _Manager(Manager):
    """panoramisk's Manager, reporting connection changes to its AmiConnection."""

    def __init__(self, owner: "AmiConnection", **config):
        super().__init__(**config)
        self.owner = owner

    def connection_made(self, future) -> None:
        try:
            _transport, protocol = future.result()
        except OSError as exc:
            self.owner._connect_failed(exc)
            return
        self.protocol = protocol
        protocol.factory, protocol.log, protocol.encoding = self, self.log, "utf8"
        self.owner._connected()

    def connection_lost(self, exc) -> None:
        self.owner._lost(exc)

    def dispatch_event(self, event) -> None:
        if event.get("Event") == "FullyBooted":
            self.owner._fully_booted()
        self.owner.events.publish(event)


Resync = Callable[["AmiConnection"], Awaitable[None]]


class AmiConnection:
    """Logs in, stays logged in, and says so; actions fail fast and clearly."""

    def __init__(self, endpoint: AmiEndpoint, loop: asyncio.AbstractEventLoop,
                 timing: AmiTiming = AmiTiming(), call_later: CallLater | None = None,
                 events: str = EVENT_CLASSES, observer=None):
        self.endpoint, self.loop, self.timing, self.event_classes = endpoint, loop, timing, events
        self.events = EventBus(loop)
        self.observer = observer    # .ami_action(pbx, action, seconds, ok) after each action (metrics)
        self._call_later = call_later or loop.call_later
        self.manager = _Manager(self, loop=loop, host=endpoint.host, port=endpoint.port,
                                 ssl=endpoint.ssl_context() or False, protocol_factory=AmiProtocol, log=log)
        self._backoff = Backoff(timing.backoff_initial, timing.backoff_cap, jitter=timing.backoff_jitter)
        self._keepalive = KeepAlive(self._call_later, timing.ping_interval, timing.ping_timeout,
                                    self._ping, self._half_open)
        self._resync_hooks: list[Resync] = []
        self._login_waiters: list[asyncio.Future] = []
        self._retry = None
        self._booted: asyncio.Future | None = None
        self.logged_in = False
        self.closed = False
        self.logins = 0
        self.failure: str | None = None    # why the link is down: unreachable, refused, login-failed, lost
        self.failed_attempts = 0           # since the last login
        self._counted = False              # this attempt's failure is in failed_attempts already
        self.retry_delay: float | None = None   # the delay before the attempt now waited for

    # -- public ------------------------------------------------------------
    @property
    def state(self) -> str:
        """`logged-in`, `connecting` (no attempt has failed yet), or why the last one failed."""
        if self.logged_in:
            return "logged-in"
        return self.failure or "connecting"

    def start(self) -> None:
        """Connect and log in; on failure retry with capped exponential backoff."""
        self.closed = False
        self.manager.connect()

    def close(self) -> None:
        self.closed = True
        self._keepalive.stop()
        if self._retry is not None:
            self._retry.cancel()
        if self.manager.protocol is not None:
            self.manager.protocol.close()
        self.events.close()

    def subscribe(self, pattern: str, callback) -> None:
        """`callback(event)` for events whose name matches the glob, in arrival order."""
        self.events.subscribe(pattern, callback)

    def on_login(self, hook: Resync) -> None:
        """Run `await hook(connection)` after every login, to re-read the PBX's state."""
        self._resync_hooks.append(hook)

    async def wait_logged_in(self, timeout: float) -> None:
        if self.logged_in:
            return
        waiter = self.loop.create_future()
        self._login_waiters.append(waiter)
        await asyncio.wait_for(waiter, timeout)

    async def send(self, action: dict, timeout: float | None = None):
        """Send one action; its reply (a list for list actions) or an AmiError."""
        if not self.logged_in:
            raise AmiNotConnected(f"AMI of PBX {self.endpoint.name} is not logged in")
        return await self._send(action, timeout)

    # -- the link ------------------------------------------------------------
    async def _send(self, action: dict, timeout: float | None):
        """Send without the logged-in check (the Login itself goes this way)."""
        encode_action(action)
        pending = AmiAction(dict(action))
        started = self.loop.time()
        future = self.manager.send_action(pending)
        limit = self.timing.action_timeout if timeout is None else timeout
        ok = False
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), limit)
            first = reply[0] if isinstance(reply, list) else reply
            ok = first.get("Response") != "Error"
            return reply
        except asyncio.TimeoutError:
            self.manager.protocol.forget(pending.id)
            raise AmiActionTimeout(f"{action.get('Action')} on PBX {self.endpoint.name}: "
                                   f"no reply in {limit:g} s") from None
        finally:
            if self.observer is not None:
                self.observer.ami_action(self.endpoint.name, action.get("Action", ""), self.loop.time() - started, ok)

    def _connected(self) -> None:
        asyncio.ensure_future(self._login(), loop=self.loop)

    async def _login(self) -> None:
        # Asterisk accepts logins while still loading modules; its state can
        # only be re-read once FullyBooted, which a login with `system` gets.
        self._booted = booted = self.loop.create_future()
        protocol = self.manager.protocol
        try:
            reply = await self._send({"Action": "Login", "Username": self.endpoint.username,
                                      "Secret": self.endpoint.secret, "Events": self.event_classes}, None)
        except AmiError as exc:
            self._failed("login-failed", f"AMI login to PBX {self.endpoint.name} failed: {exc}")
            self._drop_link()
            return
        if reply.get("Response") != "Success":
            self._failed("refused", f"AMI login to PBX {self.endpoint.name} as {self.endpoint.username} "
                                    f"refused: {reply.get('Message')}")
            self._drop_link()
            return
        try:
            await asyncio.wait_for(asyncio.shield(booted), self.timing.boot_timeout)
        except asyncio.TimeoutError:
            log.warning("AMI of PBX %s: no FullyBooted in %g s; re-syncing anyway",
                        self.endpoint.name, self.timing.boot_timeout)
        except asyncio.CancelledError:
            return  # the link dropped while Asterisk was booting
        if self.manager.protocol is protocol and not protocol.closed:
            self._logged_in()

    def _fully_booted(self) -> None:
        if self._booted is not None and not self._booted.done():
            self._booted.set_result(None)

    def _logged_in(self) -> None:
        self.logged_in = True
        self.logins += 1
        self._backoff.reset()
        self._keepalive.start()
        after = f" after {self.failed_attempts} failed attempt(s)" if self.failed_attempts else ""
        log.info("AMI logged in to PBX %s at %s:%s%s%s", self.endpoint.name, self.endpoint.host,
                 self.endpoint.port, " over TLS" if self.endpoint.tls else "", after)
        self.failure, self.failed_attempts, self.retry_delay = None, 0, None
        asyncio.ensure_future(self._resync(), loop=self.loop)

    async def _resync(self) -> None:
        for hook in self._resync_hooks:
            try:
                await hook(self)
            except Exception:
                log.exception("AMI re-sync hook failed on PBX %s", self.endpoint.name)
        waiters, self._login_waiters = self._login_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _ping(self, reply: Callable[[bool], None]) -> None:
        try:
            future = self.manager.send_action({"Action": "Ping"})
        except Exception:
            reply(False)
            return
        future.add_done_callback(
            lambda f: reply(not f.cancelled() and f.exception() is None and f.result().success))

    def _half_open(self) -> None:
        log.warning("AMI of PBX %s: no Ping reply in %g s; dropping the link",
                    self.endpoint.name, self.timing.ping_timeout)
        self._drop_link()

    def _drop_link(self) -> None:
        protocol = self.manager.protocol
        if protocol is not None and not protocol.closed:
            protocol.transport.abort()

    def _lost(self, exc) -> None:
        was_logged_in, self.logged_in = self.logged_in, False
        self._keepalive.stop()
        if self._booted is not None and not self._booted.done():
            self._booted.cancel()
        if self.closed:
            return
        if was_logged_in:
            self._note_state("lost", f"AMI connection to PBX {self.endpoint.name} lost: {exc or 'closed'}")
        else:
            # An attempt that never logged in has failed, whatever the login
            # step makes of it later (a PBX closes right after refusing a
            # login, and the close may come first): counted before its retry
            # is chosen, so the count and the delay told always agree.
            self._count_failure()
        self._schedule_reconnect()

    def _connect_failed(self, exc: OSError) -> None:
        self._failed("unreachable", f"AMI connect to PBX {self.endpoint.name} at {self.endpoint.host}:"
                                    f"{self.endpoint.port} failed: {exc.strerror or exc}")
        if not self.closed:
            self._schedule_reconnect()

    def _failed(self, failure: str, message: str) -> None:
        """Count a failed attempt to connect or log in (once), and say why."""
        self._count_failure()
        self._note_state(failure, message)

    def _count_failure(self) -> None:
        if not self._counted:
            self._counted = True
            self.failed_attempts += 1

    def _note_state(self, failure: str, message: str) -> None:
        """The link is down for `failure`: logged when that is a change of state,
        never on each attempt (at debug level then): an unreachable PBX
        would fill the log, and a refusal repeats itself until someone acts."""
        if failure != self.failure:
            log.warning("%s; retrying, backing off up to %g s", message, self.timing.backoff_cap)
        else:
            log.debug("%s (attempt %d)", message, self.failed_attempts)
        self.failure = failure

    def _schedule_reconnect(self) -> None:
        self.retry_delay = self._backoff.next_delay()
        self._retry = self._call_later(self.retry_delay, self._reconnect)

    def _reconnect(self) -> None:
        self._retry = None
        self._counted = False
        if not self.closed:
            self.manager.connect()

