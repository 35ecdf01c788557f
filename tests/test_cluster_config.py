"""[cluster]: the instances a site names once, which the rendered dialplan
tries in order (on to the next only when one cannot be reached), and the
leader lease's length; bad settings are named."""

from __future__ import annotations

import re

import pytest

from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.dialplan.conffile import parse_conf
from linkdesk.dialplan.render import render_extensions

TWO = '["agi://10.1.0.5:4573", "agi://10.1.0.6:4573"]'
PBX = """
[pbx.110]
secret = "s"
[pbx.110.transfer]
targets = { "12345" = "12345" }
[pbx.110.dialplan]
trunk = "to-12345"
home_queue = "110-intake"
"""


def _load(tmp_path, text: str):
    path = tmp_path / "linkdesk.toml"
    path.write_text(text)
    return load_config(str(path), env={})


def test_every_fastagi_call_of_the_kit_goes_through_the_instances_in_order(tmp_path):
    config = _load(tmp_path, PBX + f"[cluster]\ninstances = {TWO}\nlease_seconds = 4\n")
    text = render_extensions(config.dialplans["110"])
    parse_conf(text)    # well-formed
    steps = [line.strip() for line in text.splitlines()]   # in order, as Asterisk numbers them
    calls = [step for step in steps if "AGI(" in step]
    first = [i for i, step in enumerate(steps) if "AGI(agi://10.1.0.5:4573/" in step]
    assert len(calls) == 2 * len(first) > 0, "each FastAGI call is made at both instances"
    for i in first:
        route = steps[i].split("AGI(agi://10.1.0.5:4573/", 1)[1]
        assert steps[i + 1:i + 4] == ['same => n,GotoIf($["${AGISTATUS}" != "FAILURE"]?linkdesk_agi_done)',
                                      f"same => n,AGI(agi://10.1.0.6:4573/{route}",
                                      "same => n(linkdesk_agi_done),NoOp()"]
    assert any("agi://10.1.0.5:4573/transfer?pbx=110&to=12345&mode=blind)" in step for step in steps)
    assert "Gosub(linkdesk-agi" not in text, "no subroutine: the key's route sees its own context"
    assert (config.cluster.lease.seconds, config.cluster.lease.renew) == (4.0, 0.8)


def test_one_instance_calls_fastagi_directly_and_renders_no_fallback(tmp_path):
    text = render_extensions(_load(tmp_path, PBX).dialplans["110"])
    assert "linkdesk_agi_done" not in text and "AGI(agi://127.0.0.1:4573/inbound?trunk=to-12345)" in text


@pytest.mark.parametrize("cluster, message", [
    ('instances = ["agi://10.1.0.5:4573/transfer"]', "cluster.instances: FastAGI addresses without a path"),
    ('instances = ["http://10.1.0.5"]', "cluster.instances: FastAGI addresses"),
    ('instances = ["agi://a:1", "agi://a:1"]', "cluster.instances: each instance once"),
    ("lease_seconds = 1", "cluster.lease_seconds: at least 2 s"),
    ('instances = "agi://a:1"', "cluster.instances: expected list"),
    ("leader = true", "cluster: unknown setting(s) leader"),
])
def test_a_bad_cluster_setting_is_named(tmp_path, cluster, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _load(tmp_path, PBX + "[cluster]\n" + cluster + "\n")


def test_an_agi_url_beside_the_cluster_instances_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="pbx.110.dialplan.agi_url and cluster.instances: give one"):
        _load(tmp_path, PBX + 'agi_url = "agi://10.1.0.9:4573"\n' + f"[cluster]\ninstances = {TWO}\n")
