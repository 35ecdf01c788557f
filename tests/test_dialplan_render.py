"""`linkdesk dialplan render`: the files follow linkdesk's config."""

from __future__ import annotations

import pytest

from linkdesk.dialplan.conffile import parse_conf
from linkdesk.dialplan.render import PbxDialplan, render_confbridge, render_extensions, render_features

PLAN = PbxDialplan(pbx="12345", trunk="to-110", home_queue="12345-intake", targets=("110",), emergency=("110",))


def test_contexts_use_the_configured_trunk_queue_and_agi_address():
    text = render_extensions(PbxDialplan(pbx="110", trunk="trunk-x", home_queue="q-home", agi_url="agi://10.0.0.5:4573"))
    names = [s.name for s in parse_conf(text)]
    assert names == ["linkdesk-transfer", "linkdesk-unstamp", "linkdesk-answered", "linkdesk-return",
                     "linkdesk-conference", "linkdesk-conference-dial", "linkdesk-unit-dial", "linkdesk-conference-key",
                     "linkdesk-predial", "linkdesk-inbound"]
    assert "PJSIP/${EXTEN}@trunk-x," in text and "?q-home:" in text and "agi://10.0.0.5:4573/inbound" in text


def test_feature_keys_name_the_pbx_the_target_and_the_lane():
    lines = render_features(PLAN).splitlines()[1:]
    assert "linkdesk_xfer_blind => *1,self,AGI,agi://127.0.0.1:4573/transfer?pbx=12345&to=110&mode=blind" in lines
    assert "linkdesk_emergency => *9,self,AGI,agi://127.0.0.1:4573/transfer?pbx=12345&to=110&lane=emergency" in lines
    assert "linkdesk_non_police => *8,self,AGI,agi://127.0.0.1:4573/non_police?pbx=12345" in lines


def test_the_conference_menu_carries_the_leave_and_cancel_keys():
    keys = {"blind": "#7", "warm": "#8", "cancel": "*70", "leave": "*74", "emergency": "#9"}
    plan = PbxDialplan(pbx="110", trunk="t", home_queue="q", targets=("12345",), keys=keys)
    assert [s.name for s in parse_conf(render_confbridge(plan))] == ["linkdesk_menu"]
    assert "*74 = leave_conference" in render_confbridge(plan)
    assert "*70 = dialplan_exec(linkdesk-conference-key,cancel,1)" in render_confbridge(plan)
    with pytest.raises(ValueError, match="cannot start with '#'"):
        render_confbridge(PbxDialplan(pbx="110", trunk="t", home_queue="q", keys={**keys, "leave": "#4"}))


def test_keys_are_configurable():
    plan = PbxDialplan(pbx="110", trunk="t", home_queue="q", targets=("12345",),
                       keys={"blind": "#7", "warm": "#8", "cancel": "#0", "leave": "#4", "emergency": "#9"})
    assert "linkdesk_xfer_blind => #7,self,AGI" in render_features(plan)
