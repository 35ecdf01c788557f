"""`/v1/webhook`: where this platform's order events go (through the outbox),
and the Standard Webhooks keys that sign them.

    PUT /v1/webhook {"url": "https://…", "secret": "whsec_…"}
    PUT /v1/webhook {"url": "https://…", "secrets": ["whsec_new…", "whsec_old…"]}   (rotating)
    GET /v1/webhook     → the url and the live keys' ids (never a secret), or null
"""

from __future__ import annotations

from linkdesk.bridge.api.resource import ApiError, JsonResource, read_raw_json, text_field
from linkdesk.bridge.core.webhooks import WebhookError, WebhookService


class WebhookResource(JsonResource):
    """`PUT` sets this platform's webhook whole; `GET` shows it."""

    scope = "orders"

    def __init__(self, tokens, loop, webhooks: WebhookService):
        super().__init__(tokens, loop)
        self.webhooks = webhooks

    async def handle(self, platform: str, request) -> tuple[int, dict]:
        if request.postpath not in ([], [b""]) or request.method not in (b"PUT", b"GET"):
            raise ApiError("method-not-allowed", "GET or PUT /v1/webhook")
        if request.method == b"GET":    # {"webhook": null} until one is registered
            return 200, {"webhook": self.webhooks.get(platform)}
        _, body = read_raw_json(request)
        return 200, {"webhook": self.webhooks.register(platform, text_field(body, "url"), _secrets(body))}


def _secrets(body: dict) -> list[str]:
    """`secret` (one key) or `secrets` (a list, newest first), not both."""
    if ("secret" in body) == ("secrets" in body):
        raise WebhookError("give either 'secret' (one key) or 'secrets' (the new key first, then the old)")
    return [text_field(body, "secret")] if "secret" in body else body["secrets"]
