"""A call's media set-up asks DNS nothing. The busy hour found citizens
left 5 s in silence mid-hand-over: each RTP session bound to the wildcard
address makes Asterisk resolve its host's name and A.ROOT-SERVERS.NET
(ast_find_ourip, for RTCP), and with DNS unreachable, as on an isolated
emergency network and in this lab, a lookup waits out the resolver's
timeout. The lab's endpoints bind RTP to their transport's address (the
site guide's step; `linkdesk site check` names any endpoint that does not)."""

from __future__ import annotations

import pytest

from ami_probe import EventRecorder, on_loop
from test_lab_transfer import CITIZEN, _call_with_keys, pbx_log_since, pbx_log_size

pytestmark = pytest.mark.lab


@on_loop
async def test_a_handed_over_call_makes_neither_pbx_look_anything_up(lab, phones, linkdesk):
    start = {pbx: pbx_log_size(pbx) for pbx in ("110", "12345")}
    async with EventRecorder(lab["12345"]) as ami12345:
        _, _, citizen = _call_with_keys(lab, phones, "*5", talk_seconds=8)
        await ami12345.wait_bridged(CITIZEN, timeout=30)
        assert await citizen.finished(40) == 0
    for pbx, offset in start.items():
        lookups = [line for line in pbx_log_since(pbx, offset).splitlines() if "Unable to lookup" in line
                   or "getaddrinfo" in line]
        assert lookups == [], f"PBX {pbx} resolved names for a call's media:\n" + "\n".join(lookups[:4])
