"""A platform's webhook: the URL its order events go to and the keys that
sign them (one, or two while rotating: newest first).

Registering checks the URL against the policy (webhook_urls) and every
secret (webhook_signing); a refusal is `webhook-bad-field` naming why, and
changes nothing. This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

from linkdesk.bridge.core.errors import LinkdeskError
from linkdesk.bridge.core.ports import OrderStore
from linkdesk.bridge.core.webhook_signing import MAX_KEYS, SecretRefused, key_id, secret_key
from linkdesk.bridge.core.webhook_urls import UrlPolicy, UrlRefused, check_url


class WebhookError(LinkdeskError):
    """A refused webhook registration."""

    def __init__(self, why: str):
        super().__init__("webhook-bad-field", why)


class WebhookService:
    def __init__(self, store: OrderStore, policy: UrlPolicy = UrlPolicy()):
        self.store, self.policy = store, policy

    def register(self, platform: str, url: str, secrets: list[str]) -> dict:
        """Set `platform`'s webhook; the deliveries from now on are signed with every
        key in `secrets`. Its public view: url and key ids (never a secret)."""
        try:
            check_url(url, self.policy)
        except UrlRefused as exc:
            raise WebhookError(f"url: {exc}") from None
        _check_secrets(secrets)
        with self.store.transaction():
            self.store.set_webhook(platform, url, list(secrets))
        return shown(platform, url, secrets)

    def get(self, platform: str) -> dict | None:
        hook = self.store.webhook(platform)
        return None if hook is None else shown(platform, hook["url"], hook["secrets"])


def shown(platform: str, url: str, secrets: list[str]) -> dict:
    return {"platform": platform, "url": url, "keys": [key_id(s) for s in secrets]}


def _check_secrets(secrets: list[str]) -> None:
    if not isinstance(secrets, list) or not 1 <= len(secrets) <= MAX_KEYS:
        raise WebhookError(f"secrets: 1 or {MAX_KEYS} keys (the new one first while rotating)")
    try:
        keys = [secret_key(secret) for secret in secrets]
    except SecretRefused as exc:
        raise WebhookError(f"secret: {exc}") from None
    if len(set(keys)) != len(keys):
        raise WebhookError("secrets: the same key twice")
