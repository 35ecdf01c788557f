"""Webhook deliveries over real loopback HTTP, through treq: a delivery
verifies with the README's verifier, a replay outside the window is refused
by it, a rotated key verifies during the overlap, a name resolving to
loopback is refused at delivery, a silent receiver times out; the delivery
metrics; dead letters and their CLI."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from prometheus_client import CollectorRegistry
from twisted.internet import reactor

from ami_probe import on_loop
from linkdesk.bridge.app.webhook_client import WebhookClient
from linkdesk.bridge.cli.main import main as cli_main
from linkdesk.bridge.core.orders import OrderService
from linkdesk.bridge.core.outbox import DeliveryFailed, DeliveryTiming, Outbox
from linkdesk.bridge.core.webhook_urls import UrlPolicy
from linkdesk.bridge.core.webhooks import WebhookService
from linkdesk.bridge.store.database import open_store
from linkdesk.metrics.webhooks import WebhookMetrics
from webhook_receiver import WebhookReceiver, documented_verifier, new_secret
from webhook_tls import make_ca_and_server

LOOPBACK = UrlPolicy(allow_http=frozenset({"127.0.0.1"}), allow_hosts=frozenset({"127.0.0.1"}))
FAST = DeliveryTiming(retry_base=0.0, retry_cap=0.0)


@pytest.fixture
def orders(store_at):
    return OrderService(open_store(store_at("o.db")).orders, {"110", "12345"})


@pytest.fixture
def receiver():
    made = WebhookReceiver([new_secret()])
    yield made
    made.close()


def _new(orders) -> str:
    return orders.create("110", {"to": "12345", "caller_number": "13800138000"})["order"]["id"]


def _outbox(orders, **kwargs) -> Outbox:
    return Outbox(orders, kwargs.pop("timing", FAST), WebhookClient(reactor, LOOPBACK, timeout=5).post, **kwargs)


async def _deliver_until(outbox, predicate):
    async def round_() -> bool:
        await outbox.deliver_due()
        return predicate()
    deadline = time.monotonic() + 10
    while not await round_():
        assert time.monotonic() < deadline, "not delivered in time"
        await asyncio.sleep(0.05)


@on_loop
async def test_a_delivery_verifies_with_the_documented_verifier_and_its_replay_outside_the_window_is_refused(
        orders, receiver):
    WebhookService(orders.store, LOOPBACK).register("12345", receiver.url, receiver.secrets)
    order_id = _new(orders)
    await _deliver_until(_outbox(orders), lambda: receiver.applied)
    (taken,) = receiver.attempts
    assert (taken["status"], receiver.bad_signatures) == (200, 0)
    assert json.loads(taken["body"])["order_id"] == order_id
    assert taken["headers"]["webhook-id"] == taken["key"] == json.loads(taken["body"])["event_id"]
    receiver.clock = lambda: time.time() + receiver.window + 1      # the attacker comes back 5 minutes later
    replayed = await asyncio.to_thread(receiver.replay, taken)
    assert (replayed, receiver.bad_signatures, len(receiver.applied)) == (401, 1, 1)


@on_loop
async def test_a_rotated_key_verifies_during_the_overlap_and_the_retired_one_no_longer_does(orders, receiver):
    hooks = WebhookService(orders.store, LOOPBACK)
    old, new = receiver.secrets[0], new_secret()
    hooks.register("12345", receiver.url, [new, old])
    outbox = _outbox(orders)
    _new(orders)
    await _deliver_until(outbox, lambda: len(receiver.applied) == 1)    # the case system still knows only the old key
    receiver.secrets = [new]                                            # … and now only the new one
    _new(orders)
    await _deliver_until(outbox, lambda: len(receiver.applied) == 2)
    assert receiver.bad_signatures == 0
    hooks.register("12345", receiver.url, [new])                        # the old key retired
    receiver.secrets = [old]
    _new(orders)
    await _deliver_until(outbox, lambda: receiver.bad_signatures >= 1)
    assert len(receiver.applied) == 2, "signed with the new key only: the old one no longer verifies"


def _client(addresses: list[str], **policy) -> WebhookClient:
    async def resolve(host: str, port: int) -> list[str]:
        return addresses
    return WebhookClient(reactor, UrlPolicy(**policy), timeout=5, resolve=resolve)


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["10.0.0.5", "127.0.0.1"], ["::ffff:169.254.169.254"]])
@on_loop
async def test_a_name_that_resolves_to_a_forbidden_address_is_refused_at_delivery(receiver, addresses):
    client = _client(addresses, allow_http=frozenset({"case.example"}))
    url = receiver.url.replace("127.0.0.1", "case.example")
    with pytest.raises(DeliveryFailed) as refused:
        await client.post(url, b"{}", {})
    assert refused.value.outcome == "refused" and "case.example is" in str(refused.value)
    assert receiver.attempts == []


@on_loop
async def test_an_allowed_name_is_posted_to_the_address_it_resolved_to(orders, receiver):
    """The POST goes to the checked address, not to a second look-up's."""
    client = _client(["127.0.0.1"], allow_http=frozenset({"case.example"}), allow_hosts=frozenset({"case.example"}))
    WebhookService(orders.store, client.policy).register(
        "12345", receiver.url.replace("127.0.0.1", "case.example"), receiver.secrets)
    _new(orders)
    await _deliver_until(Outbox(orders, FAST, client.post), lambda: receiver.applied)
    assert receiver.attempts[0]["headers"]["host"].startswith("case.example:")


@pytest.fixture
def https_receiver(tmp_path):
    ca, cert, key = make_ca_and_server(tmp_path, "case.example")
    made = WebhookReceiver([new_secret()], tls=(str(cert), str(key)))
    yield made, ca.read_bytes()
    made.close()


def _https_client(ca_pem: bytes) -> WebhookClient:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]
    return WebhookClient(reactor, UrlPolicy(allow_hosts=frozenset({"case.example", "other.example"})), timeout=5,
                         resolve=resolve, ca_pem=ca_pem)


@on_loop
async def test_an_https_webhook_is_posted_to_the_checked_address_with_the_certificate_checked_for_its_name(
        https_receiver):
    receiver, ca_pem = https_receiver
    url = receiver.url.replace("127.0.0.1", "case.example")
    assert await _https_client(ca_pem).post(url, b'{"action": "created"}', {}) == 401, "reached: unsigned"
    with pytest.raises(DeliveryFailed) as refused:
        await _https_client(ca_pem).post(url.replace("case.example", "other.example"), b"{}", {})
    assert refused.value.outcome == "unreachable", "a certificate for another name is not trusted"
    assert len(receiver.attempts) == 1


@on_loop
async def test_a_receiver_that_never_answers_fails_the_delivery_as_timeout():
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        client = WebhookClient(reactor, LOOPBACK, timeout=0.3)
        with pytest.raises(DeliveryFailed) as failed:
            await client.post(f"http://127.0.0.1:{port}/hook", b"{}", {})
        assert failed.value.outcome == "timeout"
    finally:
        silent.close()


@on_loop
async def test_nothing_listening_is_unreachable():
    with pytest.raises(DeliveryFailed) as failed:
        await WebhookClient(reactor, LOOPBACK, timeout=5).post("http://127.0.0.1:1/hook", b"{}", {})
    assert failed.value.outcome == "unreachable"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Refusing:
    """A webhook that answers 503 while `down`, 204 otherwise; records each event id it was sent, and the headers."""

    def __init__(self):
        self.down, self.sent, self.headers = True, [], []

    async def post(self, url, body, headers):
        self.sent.append(json.loads(body)["event_id"])
        self.headers.append((headers, body))
        return 503 if self.down else 204


def _failing_outbox(orders, clock, hook, metrics=None) -> Outbox:
    WebhookService(orders.store, LOOPBACK).register("12345", "http://127.0.0.1:1/hook", [new_secret()])
    reports = {"on_attempt": metrics.attempted, "on_backlog": metrics.backlog_seen} if metrics else {}
    return Outbox(orders, DeliveryTiming(retry_base=1.0, retry_cap=10.0, dead_letter_after=3600.0), hook.post,
                  clock=clock, **reports)


@on_loop
async def test_attempts_count_by_platform_and_outcome_and_the_backlog_age_follows_the_oldest_event(orders):
    clock, hook, registry = Clock(), Refusing(), CollectorRegistry()
    metrics = WebhookMetrics(registry, clock=clock)
    outbox = _failing_outbox(orders, clock, hook, metrics)
    _new(orders)
    queued_at = orders.store.backlog()[0]["oldest"]
    clock.now = queued_at + 1
    await outbox.deliver_due()
    clock.now = queued_at + 90
    assert registry.get_sample_value("linkdesk_webhook_deliveries_total",
                                     {"platform": "12345", "outcome": "rejected"}) == 1
    assert registry.get_sample_value("linkdesk_webhook_backlog_age_seconds", {"platform": "12345"}) == 90
    assert registry.get_sample_value("linkdesk_webhook_backlog_events", {"platform": "12345"}) == 1
    hook.down = False
    clock.now += 10
    await outbox.deliver_due()
    assert registry.get_sample_value("linkdesk_webhook_deliveries_total",
                                     {"platform": "12345", "outcome": "delivered"}) == 1
    (now_oldest,) = orders.store.backlog()     # the order's `delivered` event, queued just now
    assert now_oldest["oldest"] > queued_at
    assert registry.get_sample_value("linkdesk_webhook_backlog_age_seconds",
                                     {"platform": "12345"}) == clock.now - now_oldest["oldest"]


@on_loop
async def test_each_retry_is_signed_anew_with_its_own_timestamp_and_verifies_at_its_own_time(orders):
    clock, hook = Clock(time.time()), Refusing()
    outbox = _failing_outbox(orders, clock, hook)
    secrets = orders.store.webhook("12345")["secrets"]
    _new(orders)
    clock.now = time.time() + 1
    await outbox.deliver_due()
    clock.now += 400                     # past the replay window of the first attempt
    await outbox.deliver_due()
    (first, body), (second, again) = hook.headers
    assert body == again and first["webhook-id"] == second["webhook-id"] == first["Idempotency-Key"]
    assert int(second["webhook-timestamp"]) - int(first["webhook-timestamp"]) == 400
    verify, _ = documented_verifier()
    assert verify(secrets, second, again, now=clock.now) and not verify(secrets, first, body, now=clock.now)


async def _fail_until_parked(orders, clock, outbox) -> dict:
    """Attempts, the clock moved past each retry, until the head event is parked."""
    first = orders.store.due_deliveries(1e12)[0]
    clock.now = max(clock.now, first["next_at"])
    await outbox.deliver_due()
    assert orders.store.dead_letters() == [], "one failure is not yet a dead letter"
    clock.now += 3600
    await outbox.deliver_due()
    return orders.store.dead_letters()[0]


@on_loop
async def test_an_event_failing_for_dead_letter_after_is_parked_and_the_platforms_next_event_goes_on(orders):
    clock, hook = Clock(), Refusing()
    outbox = _failing_outbox(orders, clock, hook)
    _new(orders)
    parked = await _fail_until_parked(orders, clock, outbox)
    assert (parked["platform"], parked["action"], parked["attempts"], parked["last_error"]) == \
        ("12345", "created", 2, "HTTP 503")
    tried = len(hook.sent)
    clock.now += 3600
    await outbox.deliver_due()
    assert len(hook.sent) == tried, "a dead letter is not tried again"
    hook.down = False
    second = _new(orders)
    clock.now = time.time() + 1
    await outbox.deliver_due()
    assert orders.store.get(second)["state"] == "delivered", "the next event was taken"
    assert orders.store.backlog()[0]["dead"] == 1


@on_loop
async def test_the_cli_lists_dead_letters_and_requeues_them_and_refuses_an_unknown_id_changing_nothing(
        orders, store_at, capsys):
    clock, hook = Clock(time.time()), Refusing()
    outbox = _failing_outbox(orders, clock, hook)
    _new(orders)
    await _fail_until_parked(orders, clock, outbox)
    store = str(store_at("o.db"))
    (parked,) = orders.store.dead_letters()
    assert cli_main(["orders", "dead-letters", "--store", store]) == 0
    listed = capsys.readouterr().out
    assert str(parked["id"]) in listed and parked["event_id"] in listed and "HTTP 503" in listed
    assert cli_main(["orders", "requeue", "--store", store, str(parked["id"]), "99999"]) == 1
    assert "not a dead letter: 99999" in capsys.readouterr().err
    assert len(orders.store.dead_letters()) == 1, "nothing requeued"
    assert cli_main(["orders", "requeue", "--store", store, str(parked["id"])]) == 0
    assert orders.store.dead_letters() == []
    assert [row["id"] for row in orders.store.due_deliveries(time.time() + 1)] == [parked["id"]]

