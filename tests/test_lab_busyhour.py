"""The busy hour's short form, in CI: one call a second to 110 (and half as
many to 12345) for a minute, bench operators handing a third of 110's calls
to 12345 by key, blind and warm, and some of 12345's to 110 by the emergency
lane; at the end every citizen is accounted for from the PBXs' own events
and linkdesk's store, and none was dropped (bench/busyhour.py is the long form)."""

from __future__ import annotations

import pytest

from ami_probe import on_loop
from linkdesk.bridge.lab.busy import account
from linkdesk.bridge.lab.busy.figures import key_accounting
from linkdesk.bridge.lab.busy.plan import busy_hour
from linkdesk.bridge.lab.busy.session import play
from linkdesk.bridge.lab.layout import default_paths
from linkdesk.bridge.lab.pbx import load_state

pytestmark = pytest.mark.lab


@on_loop
async def test_a_minute_at_one_call_a_second_accounts_for_every_citizen_and_drops_none(lab, phones, linkdesk, tmp_path):
    citizens = busy_hour(1.0, 60.0, seed=11)
    pbx_pids = {name: record.pid for name, record in load_state(default_paths()).items()}
    result = await play(lab, citizens, tmp_path, linkdesk.process.pid, linkdesk.where, pbx_pids, seed=11)
    totals = account.totals(result.verdicts)
    dropped = [v for v in result.verdicts if v.outcome == "dropped"]
    assert totals["dropped"] == 0, f"{account.one_line(result.verdicts)}; dropped: {dropped}"
    assert totals["offered"] == len(citizens) and len(citizens) >= 60
    assert totals["completed"] + totals["abandoned"] == totals["offered"], "every citizen is exactly one of them"
    assert totals["transferred"] >= 10, "hand-overs happened: blind, warm and the emergency lane"
    assert {t["mode"] for t in result.transfers} == {"blind", "warm"}
    assert "emergency" in {t["lane"] for t in result.transfers}
    keys = key_accounting(result.events, result.transfers)
    assert keys["pressed"] == keys["stored"] + sum(keys["refused"].values()), keys
    unsettled = [t for t in result.transfers if t["state"] in ("requested", "dialing", "answered")]
    assert unsettled == [], "every transfer ended"
    assert result.left_up == {"110": 0, "12345": 0}, "no operator was left in a call once the citizens had gone"
    # Each transferred citizen talked to a person on the other platform, after a person on their own.
    for verdict in result.verdicts:
        if verdict.transferred:
            assert verdict.outcome == "completed" and verdict.transfer == "completed", verdict
