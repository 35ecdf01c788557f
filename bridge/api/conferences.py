"""`/v1/conferences`: the three-way calls a platform takes part in.

    GET    /v1/conferences                                   the platform's running conferences
    GET    /v1/conferences/{id}                              one, with participants and timeline
    POST   /v1/conferences/{id}/leave                        the platform's operator leaves; the others stay
    POST   /v1/conferences/{id}/participants/{uniqueid}/mute   (or /unmute)
    DELETE /v1/conferences/{id}/participants/{uniqueid}      take a participant out
    POST   /v1/conferences/{id}/participants  {"unit": "gas"}  call a linkage unit in (202)
"""

from __future__ import annotations

from linkdesk.bridge.api.resource import ApiError, JsonResource, path_parts, read_json, text_field
from linkdesk.bridge.core.conference_service import ConferenceService

USAGE = ("GET /v1/conferences[/{id}], POST /v1/conferences/{id}/leave|participants, "
         "POST|DELETE /v1/conferences/{id}/participants/{uniqueid}[/mute|/unmute]")


class ConferencesResource(JsonResource):
    scope = "conferences"

    def __init__(self, tokens, loop, conferences: ConferenceService, orders=None):
        super().__init__(tokens, loop)
        self.conferences, self.orders = conferences, orders

    async def handle(self, platform: str, request) -> tuple[int, dict]:
        parts = path_parts(request)
        method = request.method
        if method == b"GET" and not parts:
            return 200, {"conferences": self.conferences.list(platform)}
        if method == b"GET" and len(parts) == 1:
            return 200, {"conference": self.conferences.show(platform, parts[0])}
        if method == b"POST" and len(parts) == 2 and parts[1] == "leave":
            return 200, {"left": await self.conferences.leave(platform, parts[0])}
        if method == b"POST" and len(parts) == 2 and parts[1] == "decision" and self.orders is not None:
            body = read_json(request)
            if set(body) != {"owner"}:
                raise ApiError("bad-field", "send {\"owner\": \"<the platform that takes the matter>\"}")
            self.conferences.show(platform, parts[0])        # a room this platform takes part in
            return 200, {"order": self.orders.decide(platform, parts[0], text_field(body, "owner"))}
        if method == b"POST" and len(parts) == 2 and parts[1] == "participants":
            body = read_json(request)
            if set(body) != {"unit"}:
                raise ApiError("bad-field", "send {\"unit\": \"<unit id>\"}")
            return 202, await self.conferences.add_unit(platform, parts[0], text_field(body, "unit"))
        if len(parts) >= 3 and parts[1] == "participants":
            return await self._participant(platform, method, parts)
        raise ApiError("method-not-allowed", USAGE)

    async def _participant(self, platform: str, method: bytes, parts: list[str]) -> tuple[int, dict]:
        conference, uniqueid = parts[0], parts[2]
        if method == b"DELETE" and len(parts) == 3:
            await self.conferences.kick(platform, conference, uniqueid)
            return 200, {"kicked": uniqueid}
        if method == b"POST" and len(parts) == 4 and parts[3] in ("mute", "unmute"):
            await self.conferences.mute(platform, conference, uniqueid, parts[3] == "mute")
            return 200, {parts[3] + "d": uniqueid}
        raise ApiError("method-not-allowed", USAGE)

