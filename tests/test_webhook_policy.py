"""Which webhook URLs and secrets linkdesk takes: the URL policy (SSRF), the
`[webhooks]` and `dead_letter_after` settings, `PUT /v1/webhook` through
the process's own HTTP root, and the migration of a stored raw secret."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import pytest
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from ami_probe import on_loop
from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.webhook_config import CLAIM_MARGIN, claim_seconds, webhook_settings
from linkdesk.bridge.app.wiring import build
from linkdesk.bridge.core.webhook_signing import secret_key
from linkdesk.bridge.core.webhook_urls import UrlPolicy, UrlRefused, check_url
from linkdesk.bridge.core.webhooks import WebhookService
from linkdesk.bridge.store.database import connect, open_store
from linkdesk.bridge.store.migrations import MIGRATIONS
from webhook_receiver import new_secret
from webhook_tls import make_ca_and_server

CONFIG = """
[store]
path = "{store}"

[pbx.110]
secret = "secret-110"
ami_port = 1                      # the links are never started here

[tokens]
"110" = "token-of-110"
{extra}
"""


@pytest.mark.parametrize("url, why", [
    ("http://169.254.169.254/latest/meta-data", "plain http is not allowed"),
    ("https://169.254.169.254/latest/meta-data", "a cloud metadata address"),
    ("https://[fd00:ec2::254]/latest", "a cloud metadata address"),
    ("https://100.100.100.200/latest/meta-data", "a cloud metadata address"),
    ("https://127.0.0.1:8443/hook", "a loopback address"),
    ("https://[::1]/hook", "a loopback address"),
    ("https://[::ffff:127.0.0.1]/hook", "a loopback address"),
    ("https://[2002:7f00:1::]/hook", "a loopback address"),              # 6to4
    ("https://[64:ff9b::a9fe:a9fe]/hook", "a cloud metadata address"),   # NAT64 of 169.254.169.254
    ("https://169.254.10.1/hook", "a link-local address"),
    ("https://[fe80::1]/hook", "a link-local address"),
    ("https://0.0.0.0/hook", "the unspecified address"),
    ("https://224.0.0.1/hook", "a multicast address"),
    ("https://localhost/hook", "is this machine"),
    ("https://desk.localhost./hook", "is this machine"),
    ("https://case:pw@case.example/hook", "credentials"),
    ("ftp://case.example/hook", "must be https://"),
    ("https:///hook", "must be https://"),
    ("https://case.example:99999/hook", "malformed"),
])
def test_a_url_the_policy_forbids_is_refused_naming_why(url, why):
    with pytest.raises(UrlRefused) as refused:
        check_url(url, UrlPolicy())
    assert why in str(refused.value)


@pytest.mark.parametrize("url, policy", [
    ("https://case.example/hook", UrlPolicy()),
    ("https://10.20.0.5:8443/hook", UrlPolicy()),                       # the call centre's own network
    ("https://[fd12::5]/hook", UrlPolicy()),
    ("http://case.example/hook", UrlPolicy(allow_http=frozenset({"case.example"}))),
    ("http://127.0.0.1:8080/hook", UrlPolicy(allow_http=frozenset({"127.0.0.1"}),
                                             allow_hosts=frozenset({"127.0.0.1"}))),
    ("https://169.254.169.254/x", UrlPolicy(allow_hosts=frozenset({"169.254.169.254"}))),
])
def test_a_url_the_policy_allows_passes(url, policy):
    assert check_url(url, policy).host in url


def test_http_is_refused_for_every_host_but_the_one_allowed():
    policy = UrlPolicy(allow_http=frozenset({"case.example"}))
    with pytest.raises(UrlRefused, match="plain http is not allowed for other.example"):
        check_url("http://other.example/hook", policy)
    assert check_url("http://case.example/hook", policy).port == 80


def _config(tmp_path, extra: str = ""):
    path = tmp_path / "linkdesk.toml"
    path.write_text(CONFIG.format(store=tmp_path / "linkdesk.db", extra=extra))
    return load_config(str(path), env={})


def test_the_webhooks_settings_and_dead_letter_after_are_read(tmp_path):
    config = _config(tmp_path, '[orders]\ndead_letter_after = 600\n'
                               '[webhooks]\nallow_http = ["Case.Example"]\nallow_hosts = ["127.0.0.1"]\ntimeout = 3\n')
    assert config.delivery.dead_letter_after == 600.0
    assert config.webhooks.policy == UrlPolicy(allow_http=frozenset({"case.example"}),
                                               allow_hosts=frozenset({"127.0.0.1"}))
    assert config.webhooks.timeout == 3.0


@pytest.mark.parametrize("extra, named", [
    ("[webhooks]\nallow_http = \"case.example\"\n", "webhooks.allow_http"),
    ("[webhooks]\nallow_hosts = [\"http://x/\"]\n", "webhooks.allow_hosts"),
    ("[webhooks]\ntimeout = 0\n", "webhooks.timeout"),
    ("[webhooks]\nproxy = \"x\"\n", "webhooks: unknown setting(s) proxy"),
    ("[orders]\ndead_letter_after = -1\n", "dead_letter_after"),
])
def test_a_bad_webhooks_setting_is_refused_naming_it(tmp_path, extra, named):
    with pytest.raises(ConfigError) as refused:
        _config(tmp_path, extra)
    assert named in str(refused.value)


def test_a_ca_file_is_read_and_a_bad_one_is_refused_naming_the_file_and_the_problem(tmp_path):
    ca, _, _ = make_ca_and_server(tmp_path, "case.example")
    assert _config(tmp_path, f'[webhooks]\nca_file = "{ca}"\n').webhooks.ca_pem == ca.read_bytes()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    for path, problem in ((tmp_path / "absent.pem", "cannot read"), (garbage, "no PEM certificate"),
                          (broken, "does not parse")):
        with pytest.raises(ConfigError) as refused:
            _config(tmp_path, f'[webhooks]\nca_file = "{path}"\n')
        assert str(path) in str(refused.value) and problem in str(refused.value)


@pytest.fixture
def process(tmp_path):
    built = build(_config(tmp_path, '[webhooks]\nallow_http = ["case.example"]\n'), event_loop())
    yield built
    built.stop()
    built.store.db.close()


async def _http(process, method: str, body=None) -> tuple[int, dict]:
    request = DummyRequest([b"v1", b"webhook"])
    request.method, request.path = method.encode(), b"/v1/webhook"
    data = json.dumps(body).encode() if body is not None else b""
    request.content = io.BytesIO(data)
    request.requestHeaders.setRawHeaders(b"content-length", [str(len(data)).encode()])
    request.requestHeaders.setRawHeaders(b"authorization", [b"Bearer token-of-110"])
    finished = request.notifyFinish()
    getChildForRequest(process.http, request).render(request)
    await asyncio.wait_for(finished.asFuture(asyncio.get_running_loop()), 5)
    return request.responseCode, json.loads(b"".join(request.written))


SECRET = new_secret()


@pytest.mark.parametrize("body, why", [
    ({"url": "https://169.254.169.254/latest/meta-data", "secret": SECRET}, "a cloud metadata address"),
    ({"url": "http://other.example/hook", "secret": SECRET}, "plain http is not allowed"),
    ({"url": "https://case.example/hook", "secret": "secret-of-old-days-xx"}, "whsec_"),
    ({"url": "https://case.example/hook", "secret": "whsec_" + base64.b64encode(b"short").decode()}, "24–64 bytes"),
    ({"url": "https://case.example/hook", "secret": "whsec_not base64!"}, "base64"),
    ({"url": "https://case.example/hook", "secrets": [new_secret(), new_secret(), new_secret()]}, "1 or 2 keys"),
    ({"url": "https://case.example/hook", "secrets": [SECRET, SECRET]}, "the same key twice"),
    ({"url": "https://case.example/hook", "secrets": "whsec_x"}, "1 or 2 keys"),
    ({"url": "https://case.example/hook", "secret": SECRET, "secrets": [SECRET]}, "either"),
])
@on_loop
async def test_put_webhook_refuses_a_bad_url_or_secret_with_400_naming_why_and_keeps_the_old_one(process, body, why):
    status, kept = await _http(process, "PUT", {"url": "https://case.example/hook", "secret": SECRET})
    assert status == 200, kept
    status, refused = await _http(process, "PUT", body)
    assert (status, refused["error"]["id"]) == (400, "webhook-bad-field")
    assert why in refused["error"]["message"]
    assert await _http(process, "GET") == (200, kept)


@on_loop
async def test_get_webhook_without_one_registered_says_none(process):
    # The resource exists for every platform: 200 with no webhook, not a 404 (which means no such path).
    assert await _http(process, "GET") == (200, {"webhook": None})


@on_loop
async def test_put_webhook_takes_an_allowed_url_and_two_keys_and_shows_only_their_ids(process):
    new, old = new_secret(), new_secret()
    status, body = await _http(process, "PUT", {"url": "http://case.example/hook", "secrets": [new, old]})
    assert status == 200
    assert body["webhook"]["url"] == "http://case.example/hook" and len(body["webhook"]["keys"]) == 2
    assert new not in json.dumps(body) and old not in json.dumps(body)
    assert process.store.orders.webhook("110")["secrets"] == [new, old]


def test_a_raw_secret_stored_before_standard_webhooks_is_migrated_to_the_same_key(store_at):
    db = connect(store_at("v4.db"))
    with db.schema_change():
        for migration in MIGRATIONS[:4]:
            migration(db)
        db.set_schema_version(4)
        db.execute("INSERT INTO webhooks (platform, url, secret, updated_at) VALUES "
                   "('110', 'https://case.example/hook', 'raw-secret-of-110-xxxxxxxx', 1.0)")
        db.execute("INSERT INTO outbox (event_id, platform, payload, next_at) VALUES "
                   "('ev-1', '110', '{\"at\": 1234.5}', 1234.5)")
    db.close()
    store = open_store(store_at("v4.db")).orders
    assert secret_key(store.webhook("110")["secrets"][0]) == b"raw-secret-of-110-xxxxxxxx"
    assert store.backlog() == [{"platform": "110", "oldest": 1234.5, "pending": 1, "dead": 0}]


@on_loop
async def test_the_process_counts_its_deliveries_and_shows_its_backlog_on_its_own_registry(tmp_path):
    config = _config(tmp_path, '[pbx.12345]\nsecret = "s"\n[webhooks]\nallow_http = ["127.0.0.1"]\n'
                               'allow_hosts = ["127.0.0.1"]\n')
    process = build(config, event_loop())
    try:
        WebhookService(process.store.orders, config.webhooks.policy).register(
            "12345", "http://127.0.0.1:1/hook", [new_secret()])                                 # nothing listens
        process.orders.create("110", {"to": "12345", "caller_number": "13800138000"})
        await process.outbox.deliver_due()
        registry = process.metrics.registry
        assert registry.get_sample_value("linkdesk_webhook_deliveries_total",
                                         {"platform": "12345", "outcome": "unreachable"}) == 1
        assert registry.get_sample_value("linkdesk_webhook_backlog_events", {"platform": "12345"}) == 1
        assert registry.get_sample_value("linkdesk_webhook_backlog_age_seconds", {"platform": "12345"}) >= 0
    finally:
        process.stop()
        process.store.db.close()


@on_loop
async def test_sighup_s_webhook_settings_apply_to_the_next_registration(process, tmp_path):
    body = {"url": "http://cases.internal/hook", "secret": new_secret()}
    status, refused = await _http(process, "PUT", body)
    assert (status, refused["error"]["id"]) == (400, "webhook-bad-field")
    reread = _config(tmp_path, '[webhooks]\nallow_http = ["case.example", "cases.internal"]\n')
    process.apply_webhook_settings(reread.webhooks)        # what serve's SIGHUP hook does
    status, taken = await _http(process, "PUT", body)
    assert status == 200 and taken["webhook"]["url"] == "http://cases.internal/hook"


def test_an_outbox_claim_outlasts_a_delivery_of_the_webhook_timeout_asked_for():
    for timeout in (1.0, 10.0, 30.0):
        settings = webhook_settings({"timeout": timeout})
        assert settings.timeout == timeout
        assert claim_seconds(settings) == 2 * timeout + CLAIM_MARGIN > 2 * timeout
