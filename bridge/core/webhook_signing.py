"""Standard Webhooks signatures (https://www.standardwebhooks.com).

Each delivery carries `webhook-id` (the event id), `webhook-timestamp`
(Unix seconds of this attempt) and `webhook-signature`: one
`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per key the platform has
registered, space-separated, so that during a key rotation a receiver that
knows either key verifies. Secrets are `whsec_<base64 of 24–64 bytes>`.

This module imports neither Twisted nor panoramisk.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"
KEY_BYTES = (24, 64)
MAX_KEYS = 2    # the new key and the one it replaces, while rotating


class SecretRefused(ValueError):
    """A secret is not `whsec_<base64>` of the right size; the message says why."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret; SecretRefused naming why it is not one."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise SecretRefused(f"a secret is {PREFIX}<base64>")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise SecretRefused(f"a secret is {PREFIX} then base64 (A–Z a–z 0–9 + / =)") from None
    if not KEY_BYTES[0] <= len(key) <= KEY_BYTES[1]:
        raise SecretRefused(f"a secret's key is {KEY_BYTES[0]}–{KEY_BYTES[1]} bytes, this one {len(key)}")
    return key


def key_id(secret: str) -> str:
    """A short public name of a key (to tell which keys are live; reveals nothing of it)."""
    return "key-" + hashlib.sha256(secret_key(secret)).hexdigest()[:12]


def signed_headers(secrets: list[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every key."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    signatures = " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets)
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}
