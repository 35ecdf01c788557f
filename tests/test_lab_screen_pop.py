"""The screen pop against the lab, read by a real SSE client (httpx-sse):
the 12345 desk sees the handed-over citizen ring before the phone is
answered, and a client that reconnects with Last-Event-ID misses nothing
(issue 14, the screen pop)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from httpx_sse import aconnect_sse

from ami_probe import EventRecorder, on_loop
from lab_linkdesk import LAB_TOKENS
from test_lab_transfer import CITIZEN

pytestmark = pytest.mark.lab


async def _next(events, kind: str, timeout: float = 20.0):
    async with asyncio.timeout(timeout):
        async for event in events:
            if event.event == kind:
                return event
    raise AssertionError(f"the stream ended before a {kind} event")


@on_loop
async def test_the_receiving_desk_sees_the_ring_before_the_answer_and_resumes_after_a_reconnect(lab, phones,
                                                                                               linkdesk):
    url = f"http://127.0.0.1:{linkdesk.http_port}/v1/events"
    headers = {"Authorization": f"Bearer {LAB_TOKENS['12345']}"}
    async with EventRecorder(lab["12345"]) as ami12345, httpx.AsyncClient(timeout=30) as client:
        async with aconnect_sse(client, "GET", url, headers=headers) as source:
            assert source.response.status_code == 200
            events = source.aiter_sse()
            phones.operator(lab["110"].operators[0], press="*5", press_after=1.0)
            for operator in lab["12345"].operators:
                phones.operator(operator, answer_after=2.0)
            phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=10)
            ringing = await _next(events, "transfer.ringing")
            assert not [e for e in ami12345.events if e.name == "AgentConnect"], "it rings: nobody has answered"
            shown = json.loads(ringing.data)
            assert (shown["caller"], shown["from_platform"], shown["to_platform"]) == (CITIZEN, "110", "12345")
            assert shown["extension"] in ("2101", "2102") and shown["order_id"].startswith("WO-")
            answered = await _next(events, "transfer.answered")
            assert json.loads(answered.data)["order_id"] == shown["order_id"]
        resumed = {"Last-Event-ID": ringing.id, **headers}
        async with aconnect_sse(client, "GET", url, headers=resumed) as again:
            first = await _next(again.aiter_sse(), "transfer.answered")
            assert int(first.id) > int(ringing.id) and first.id == answered.id
        refused = await client.get(url, headers={"Authorization": "Bearer not-a-token"})
        assert refused.status_code == 401 and "event:" not in refused.text
