"""`PUT /v1/webhook` {"url": "http://…", "secret": "…"}: where this platform's
order events go (through the outbox), and the secret that signs them."""

from __future__ import annotations

from linkdesk.bridge.api.resource import ApiError, JsonResource, read_raw_json, text_field
from linkdesk.bridge.core.orders import OrderService


class WebhookResource(JsonResource):
    """`PUT /v1/webhook`: where this platform's order events go, and the HMAC secret."""

    scope = "orders"

    def __init__(self, tokens, loop, orders: OrderService):
        super().__init__(tokens, loop)
        self.orders = orders

    async def handle(self, platform: str, request) -> tuple[int, dict]:
        if request.method != b"PUT" or request.postpath not in ([], [b""]):
            raise ApiError("method-not-allowed", "PUT /v1/webhook")
        _, body = read_raw_json(request)
        self.orders.set_webhook(platform, text_field(body, "url"), text_field(body, "secret"))
        return 200, {"webhook": {"platform": platform, "url": body["url"]}}
