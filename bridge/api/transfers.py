"""`/v1/transfers`: one-click transfers over HTTP. The resource loads the
request, calls the transfer service and dumps the result."""

from __future__ import annotations

from linkdesk.bridge.api.resource import ApiError, JsonResource, path_parts, read_json, text_field
from linkdesk.bridge.core.transfers import TransferError, TransferRequest, TransferService


class TransfersResource(JsonResource):
    """`POST /v1/transfers` starts one; `GET /v1/transfers/{id}` shows one with its
    timeline; `DELETE /v1/transfers/{id}` cancels a warm one that still rings."""

    scope = "transfers"

    def __init__(self, tokens, loop, transfers: TransferService):
        super().__init__(tokens, loop)
        self.transfers = transfers

    async def handle(self, platform: str, request) -> tuple[int, dict]:
        parts = path_parts(request)
        if request.method == b"POST" and not parts:
            return 201, await self._create(platform, read_json(request))
        if request.method == b"GET" and len(parts) == 1:
            return 200, self._show(platform, parts[0])
        if request.method == b"DELETE" and len(parts) == 1:
            cancelled = await self.transfers.cancel_by_id(platform, parts[0])
            return 200, {"transfer": public(cancelled)}
        raise ApiError("method-not-allowed",
                       "POST /v1/transfers, GET /v1/transfers/{id} or DELETE /v1/transfers/{id}")

    async def _create(self, platform: str, body: dict) -> dict:
        unknown = set(body) - {"operator", "to", "mode", "lane"}
        if unknown:
            raise ApiError("bad-field", f"unknown field(s): {', '.join(sorted(unknown))}")
        req = TransferRequest(pbx=platform, to=text_field(body, "to"), mode=text_field(body, "mode", "blind"),
                              lane=text_field(body, "lane", "normal"), trigger="http",
                              operator=text_field(body, "operator"))
        transfer = await self.transfers.request(req)
        return {"transfer": public(transfer), "order_id": transfer["order_id"]}

    def _show(self, platform: str, transfer_id: str) -> dict:
        transfer = self.transfers.get(transfer_id)
        if platform not in (self.transfers.platforms.platform_of(transfer["pbx"]), transfer["target"]):
            raise TransferError("transfer-not-found", f"no transfer {transfer_id!r}")
        return {"transfer": public(transfer), "timeline": self.transfers.store.timeline(transfer_id)}


def public(transfer: dict) -> dict:
    """The transfer as platforms see it: a withheld number is not shown."""
    shown = {k: v for k, v in transfer.items() if k not in ("caller_withheld",)}
    shown["caller_number"] = "anonymous" if transfer["caller_withheld"] else transfer["caller_number"]
    return shown
