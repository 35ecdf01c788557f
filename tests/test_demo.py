"""`linkdesk demo`, the README's first command, tells the whole story on the lab."""

from __future__ import annotations

import re

import pytest

from conftest import run_linkdesk
from lab_linkdesk import free_tcp_port

pytestmark = pytest.mark.lab


def test_demo_hands_a_call_from_110_to_12345_with_the_number_and_the_order(lab):
    # A free HTTP port; FastAGI stays on 4573, the port the lab dialplan calls.
    out = run_linkdesk("demo", "--http-port", str(free_tcp_port()), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "13800138000 waits in queue 110-intake" in text
    assert "13800138000 waits in queue 12345-intake" in text
    assert re.search(r"operator Operator 210[12] answers; their phone shows 13800138000", text), text
    assert re.search(r"operator 210[12] heard the whisper \(from 110, order attached\) and accepted with key 1", text), text
    assert "X-Linkdesk-Caller: 13800138000" in text
    order = re.search(r"X-Linkdesk-Order: (WO-[0-9a-f]{12})", text).group(1)
    assert re.search(r"110 → 12345, blind, completed, citizen 13800138000", text), text
    assert order in text.split("The transfer as linkdesk stored it")[1]
    metrics = text.split("What a supervisor's Prometheus sees")[1]
    assert re.search(r'linkdesk_transfers_total\{direction="110_to_12345",lane="normal",mode="blind",'
                     r'pbx="110",result="completed"\} 1\.0', metrics), metrics
