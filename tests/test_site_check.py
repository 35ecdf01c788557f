"""`linkdesk site check`: clashes, missing modules, profiles, settings and
includes, reported before anything is deployed; and the lab's own files,
which may define nothing of linkdesk's by hand."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from linkdesk.bridge.cli.main import main
from linkdesk.dialplan.conffile import parse_conf
from linkdesk.dialplan.keys import DEFAULT_KEYS
from linkdesk.dialplan.kit import add_includes, write_kit
from linkdesk.dialplan.render import PbxDialplan
from linkdesk.dialplan.site_check import check_site

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "asterisk-config"
PLAN = PbxDialplan(pbx="110", trunk="to-12345", home_queue="110-intake", targets=("12345",),
                   queues=("110-intake", "110-emergency"), ami_secret="s-110-secret")
STOCK = {"features.conf": "[general]\n[featuremap]\n[applicationmap]\n", "confbridge.conf": "[general]\n"}


def a_site(tmp_path, plan=PLAN) -> Path:
    """A site like the lab's PBX 110: stock features/confbridge, the lab's site
    files, the rendered kit and its includes."""
    etc = tmp_path / "etc"
    etc.mkdir()
    for name, text in STOCK.items():
        (etc / name).write_text(text)
    for source in (LAB / "common", LAB / "110"):
        for conf in source.glob("*.conf"):
            shutil.copy(conf, etc / conf.name)
    add_includes(write_kit(plan, etc), etc)
    return etc


def problems(findings) -> list[str]:
    return [str(f) for f in findings if f.is_problem]


def test_a_site_set_up_from_the_kit_has_no_problem(tmp_path):
    assert problems(check_site(PLAN, a_site(tmp_path))) == []


def test_a_freepbx_featuremap_clashes_with_the_old_keys_and_not_with_the_defaults(tmp_path):
    etc = a_site(tmp_path)
    for conf in (REPO / "tests" / "fixtures" / "freepbx").glob("*.conf"):
        shutil.copy(conf, etc / conf.name)
    old = replace(PLAN, keys={**DEFAULT_KEYS, "blind": "*1", "warm": "*2", "cancel": "*0"})
    clashes = [str(f) for f in check_site(old, etc) if f.kind == "clash"]
    assert any("blind key *1 and [featuremap] automon (*1)" in c for c in clashes), clashes
    assert any("warm key *2 and [featuremap] atxfer (*2)" in c for c in clashes), clashes
    assert any("blind key *1 and [applicationmap] apprecord (*1)" in c for c in clashes), clashes
    assert all("change [pbx.110.dialplan] keys." in c for c in clashes)
    assert [f for f in check_site(PLAN, etc) if f.kind == "clash"] == []


def test_a_missing_profile_and_include_are_named(tmp_path):
    etc = a_site(tmp_path)
    (etc / "confbridge.conf").write_text("[general]\n")
    found = problems(check_site(PLAN, etc))
    assert "missing-setting: confbridge.conf defines no [linkdesk_bridge] (linkdesk's three-way room): " \
           "is linkdesk-confbridge.conf included?" in found
    assert any(f.startswith("missing-include: confbridge.conf has no `#include linkdesk-confbridge.conf`")
               for f in found)


def test_a_module_that_is_not_loaded_is_named(tmp_path):
    etc = a_site(tmp_path)
    modules = (etc / "modules.conf").read_text().replace("load = app_confbridge.so\n", "")
    (etc / "modules.conf").write_text(modules + "noload = res_agi.so\n")
    found = problems(check_site(PLAN, etc))
    assert "missing-module: app_confbridge.so (ConfBridge, the three-way room) is not loaded: modules.conf has " \
           "autoload = no and no `load` line for it" in found
    assert any(f.startswith("missing-module: res_agi.so") and "noload" in f for f in found)


def test_a_trunk_known_by_its_name_and_an_unknown_queue_are_named(tmp_path):
    etc = a_site(tmp_path, replace(PLAN, queues=("110-intake", "110-vip")))
    pjsip = (etc / "pjsip.conf").read_text().replace("(endpoint-common,linkdesk-trunk)", "(endpoint-common)")
    (etc / "pjsip.conf").write_text(pjsip)
    found = problems(check_site(replace(PLAN, queues=("110-intake", "110-vip")), etc))
    assert any("trunk to-12345: identify_by is unset (username,ip), not ip" in f for f in found), found
    assert any("trunk to-12345: trust_id_outbound is not yes" in f for f in found)
    assert "unknown-name: pbx.110.dialplan.queues: queues.conf has no queue '110-vip'" in found


def test_the_command_exits_1_on_problems_and_0_when_ready(tmp_path, capsys):
    config = tmp_path / "linkdesk.toml"
    config.write_text('[pbx.110]\nsecret = "s-110-secret"\n[pbx.110.transfer]\ntargets = { "12345" = "12345" }\n'
                      '[pbx.110.dialplan]\ntrunk = "to-12345"\nhome_queue = "110-intake"\n'
                      'queues = ["110-intake", "110-emergency"]\n[pbx.12345]\n')
    etc = a_site(tmp_path)
    assert main(["site", "check", "--pbx", "110", "--config", str(config), "--etc", str(etc)]) == 0
    assert "ready for linkdesk (PBX 110)" in capsys.readouterr().out
    (etc / "features.conf").write_text("[general]\nfeaturedigittimeout = 500\n[featuremap]\natxfer = *5\n")
    assert main(["site", "check", "--pbx", "110", "--config", str(config), "--etc", str(etc)]) == 1
    out = capsys.readouterr().out
    assert "clash: linkdesk's blind key *5 and [featuremap] atxfer (*5)" in out and "problem(s)" in out


def test_the_lab_layout_reads_its_site_files_before_the_kit_is_rendered():
    from linkdesk.bridge.lab.layout import Paths, load_specs

    specs = load_specs(Paths(config_dir=LAB, state_dir=Path("/nonexistent")))
    assert specs["110"].trunk_endpoint == "to-12345" and specs["110"].operators[0].password


def test_no_file_under_asterisk_config_defines_linkdesk_by_hand():
    """The lab is a site: linkdesk's contexts, profiles, features, templates and
    manager user come from the rendered kit only."""
    for path in LAB.rglob("*.conf"):
        for section in parse_conf(path.read_text(), str(path)):
            assert not section.name.lower().startswith("linkdesk"), f"{path}: [{section.name}] is linkdesk's"
            if path.name == "manager.conf":
                assert section.name == "general", f"{path}: manager user [{section.name}] by hand"
            if section.name == "applicationmap":
                assert section.options == [], f"{path}: applicationmap entries by hand"
            assert not any(value.startswith("linkdesk_") or name.startswith("linkdesk_")
                           for name, value in section.options if "=>" not in value), path
        assert "DYNAMIC_FEATURES=${LINKDESK" not in path.read_text(), path


def test_an_operators_route_to_the_other_platform_past_linkdesk_consult_is_noted(tmp_path):
    """The phone's own attended transfer needs the site's route through linkdesk-consult (a note, not a problem)."""
    plan = replace(PLAN, target_numbers=(("12345", "12345"),))
    etc = a_site(tmp_path, plan)
    assert not [f for f in check_site(plan, etc) if "linkdesk-consult" in f.text]
    site = etc / "extensions.conf"
    site.write_text(site.read_text().replace("Goto(linkdesk-consult,12345,1)", "Goto(to-12345,12345,1)"))
    noted = [f for f in check_site(plan, etc) if "linkdesk-consult" in f.text]
    assert [f.kind for f in noted] == ["note"] and "12345" in noted[0].text


def _media_notes(findings) -> list[str]:
    return [f.text for f in findings if f.kind == "note" and "bind RTP to any address" in f.text]


def test_endpoints_whose_rtp_binds_to_any_address_are_named(tmp_path):
    """Such an endpoint's every call resolves the host's name and
    A.ROOT-SERVERS.NET (the busy hour's 5 s silences, DNS unreachable)."""
    etc = a_site(tmp_path)
    (etc / "pjsip.conf").write_text(
        "[bound]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:5160\n"
        "[wild]\ntype = transport\nprotocol = udp\nbind = 0.0.0.0:5062\n"
        "[wild6]\ntype = transport\nprotocol = udp\nbind = [::]:5064\n"
        "[common](!)\ntype = endpoint\n"
        "[no-transport](common)\n"
        "[on-wild](common)\ntransport = wild\n"
        "[on-wild6](common)\ntransport = wild6\n"
        "[on-bound](common)\ntransport = bound\n"
        "[pinned](common)\nmedia_address = 127.0.0.1\nbind_rtp_to_media_address = yes\n"
        "[address-only](common)\nmedia_address = 127.0.0.1\n")
    notes = _media_notes(check_site(PLAN, etc))
    assert len(notes) == 1
    assert notes[0].startswith("pjsip.conf: endpoint(s) no-transport, on-wild, on-wild6, address-only bind RTP")


def test_the_labs_endpoints_bind_rtp_to_their_transports_address(tmp_path):
    assert _media_notes(check_site(PLAN, a_site(tmp_path))) == []
