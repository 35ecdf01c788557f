"""A platform on several PBXs as the other side sees it: `trunk` may name a
list of trunks, one per PBX of the other platform. The kit dials them in turn,
on to the next only when one could not reach its PBX (CHANUNAVAIL, CONGESTION),
and believes handed-over calls from each; the site check checks each."""

from __future__ import annotations

import pytest

from ami_probe import on_loop
from test_agi_batches import Asterisk
from linkdesk.agi.handlers import inbound
from linkdesk.agi.request import AgiError, AgiRequest
from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.dialplan.conffile import parse_conf
from linkdesk.dialplan.kit import kit
from linkdesk.dialplan.site_check import check_site

PBX = """
[pbx.12345]
secret = "s"
[pbx.12345.transfer]
targets = {{ "110" = "110" }}
emergency = {{ "110" = "11099" }}
[pbx.12345.dialplan]
trunk = {trunk}
home_queue = "12345-intake"
"""
ONWARD = 'same => n,GotoIf($["${DIALSTATUS}" != "CHANUNAVAIL" & "${DIALSTATUS}" != "CONGESTION"]?linkdesk_dial_done)'


def _plan(tmp_path, trunk: str):
    path = tmp_path / "linkdesk.toml"
    path.write_text(PBX.format(trunk=trunk))
    return load_config(str(path), env={}).dialplans["12345"]


def _extensions(plan) -> str:
    return next(item.text for item in kit(plan, "plain") if item.name == "linkdesk-extensions.conf")


def test_each_dial_to_the_other_platform_tries_its_pbxs_in_turn_while_one_is_unreachable(tmp_path):
    text = _extensions(_plan(tmp_path, '["to-110", "to-110b"]'))
    parse_conf(text)    # well-formed
    steps = [line.strip() for line in text.splitlines()]
    firsts = [i for i, step in enumerate(steps) if "Dial(PJSIP/${EXTEN}@to-110," in step]
    # The hand-over, the room's call to the other side, the consultation call.
    assert len(firsts) == 3
    for i in firsts:
        options = steps[i].split("@to-110,", 1)[1]
        assert steps[i + 1:i + 4] == [ONWARD, f"same => n,Dial(PJSIP/${{EXTEN}}@to-110b,{options}",
                                      "same => n(linkdesk_dial_done),NoOp()"]
    assert steps.count(ONWARD) == 3


def test_a_handed_over_call_is_believed_from_each_trunk(tmp_path):
    text = _extensions(_plan(tmp_path, '["to-110", "to-110b"]'))
    assert "AGI(agi://127.0.0.1:4573/inbound?trunk=to-110+to-110b)" in text


def test_one_trunk_renders_one_dial_and_no_onward_step(tmp_path):
    text = _extensions(_plan(tmp_path, '"to-110"'))
    assert "linkdesk_dial_done" not in text and "DIALSTATUS}\" != \"CHANUNAVAIL" not in text
    assert text.count("Dial(PJSIP/${EXTEN}@to-110,") == 3 and "inbound?trunk=to-110)" in text


def test_the_trunk_template_names_every_trunk_and_freepbx_extends_each(tmp_path):
    plan = _plan(tmp_path, '["to-110", "to-110b"]')
    plain = next(item.text for item in kit(plan, "plain") if item.name == "linkdesk-pjsip.conf")
    assert "[to-110] and [to-110b] inherit this template" in plain
    freepbx = next(item.text for item in kit(plan, "freepbx") if item.name.endswith("pjsip.conf"))
    assert "[to-110](+)" in freepbx and "[to-110b](+)" in freepbx


@pytest.mark.parametrize("trunk", ['[]', '["to-110", "to-110"]', '["to 110"]', '["to-110,x"]', '["a+b"]', "7"])
def test_a_bad_trunk_list_is_named(tmp_path, trunk):
    with pytest.raises(ConfigError, match=r"pbx\.12345\.dialplan\.trunk"):
        _plan(tmp_path, trunk)


def test_the_site_check_finds_a_missing_second_trunk(tmp_path):
    plan = _plan(tmp_path, '["to-110", "to-110b"]')
    (tmp_path / "asterisk.conf").write_text("[directories]\n")
    (tmp_path / "pjsip.conf").write_text("[to-110]\ntype = endpoint\n")
    texts = [f.text for f in check_site(plan, tmp_path)]
    assert any("no endpoint 'to-110b'" in text for text in texts)
    assert not any("no endpoint 'to-110'" in text for text in texts)


def _inbound_from(endpoint: str, trunks: str) -> tuple[AgiRequest, Asterisk]:
    asterisk = Asterisk(f"200 result=1 ({endpoint}\x1fWO-0123456789ab\x1f13800138000\x1femergency)", "200 result=0")
    request = AgiRequest(env={"agi_channel": f"PJSIP/{endpoint}-00000001"}, route="inbound",
                         args={"trunk": trunks}, send=asterisk.send)
    return request, asterisk


@on_loop
async def test_inbound_takes_the_order_from_the_second_trunk():
    request, asterisk = _inbound_from("to-110b", "to-110 to-110b")
    await inbound(request)
    assert asterisk.lines[-1].startswith('EXEC "MSet" "__LINKDESK_ORDER_ID=WO-0123456789ab,')


@on_loop
async def test_inbound_ignores_the_headers_of_an_endpoint_that_is_no_trunk():
    request, asterisk = _inbound_from("1101", "to-110 to-110b")
    with pytest.raises(AgiError) as refused:
        await inbound(request)
    assert refused.value.reason == "inbound-not-trunk" and len(asterisk.lines) == 1
