"""The `[webhooks]` settings: which URLs deliveries may go to, how long one
may take, and the CAs trusted for https webhooks.

    allow_http  = ["case.internal"]   hosts a webhook may reach over plain http
    allow_hosts = ["127.0.0.1"]       hosts that may be loopback, link-local or metadata addresses
    timeout     = 10.0                seconds a delivery may take
    ca_file     = "/etc/…/ca.pem"     a PEM bundle trusted instead of the system's CAs
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linkdesk.bridge.app.webhook_client import trust_root
from linkdesk.bridge.core.webhook_urls import UrlPolicy

# setting → its TOML type(s), for the config loader's type check
SCHEMA = {"allow_http": list, "allow_hosts": list, "timeout": (int, float), "ca_file": str}


@dataclass(frozen=True)
class WebhookSettings:
    policy: UrlPolicy = UrlPolicy()     # which URLs deliveries may go to (see webhook_urls)
    timeout: float = 10.0               # seconds a delivery may take before it counts as failed
    ca_pem: bytes | None = None         # CAs trusted for https webhooks instead of the system's (ca_file)


CLAIM_MARGIN = 5.0    # s an outbox claim outlasts the webhook timeout (twice over: a connect, then the answer)


def claim_seconds(settings: WebhookSettings) -> float:
    """How long an instance's claim on an outbox event lasts: past any
    delivery of it still under way, so no other instance sends it meanwhile.
    It is also how long the events of an instance killed mid-delivery wait
    before another takes them."""
    return 2 * settings.timeout + CLAIM_MARGIN


def webhook_settings(fields: dict) -> WebhookSettings:
    """The settings from `[webhooks]`, already type-checked against SCHEMA;
    ValueError naming the setting (and the file) when one is wrong."""
    for name in ("allow_http", "allow_hosts"):
        if not all(isinstance(host, str) and host and "/" not in host for host in fields.get(name, [])):
            raise ValueError(f"webhooks.{name}: a list of hosts like \"case.example\" or \"10.0.0.5\"")
    if not 0 < fields.get("timeout", 1) <= 300:
        raise ValueError("webhooks.timeout: seconds, > 0 and at most 300")
    policy = UrlPolicy(allow_http=frozenset(h.lower() for h in fields.get("allow_http", [])),
                       allow_hosts=frozenset(h.lower() for h in fields.get("allow_hosts", [])))
    return WebhookSettings(policy=policy, timeout=float(fields.get("timeout", 10.0)),
                           ca_pem=_ca_bundle(fields["ca_file"]) if "ca_file" in fields else None)


def _ca_bundle(path: str) -> bytes:
    """The PEM bundle at `path`, once checked to hold certificates that parse."""
    try:
        pem = Path(path).read_bytes()
        trust_root(pem)
    except OSError as exc:
        raise ValueError(f"webhooks.ca_file: cannot read {path} ({exc.strerror})") from None
    except ValueError as exc:
        raise ValueError(f"webhooks.ca_file: {path}: {exc}") from None
    return pem
