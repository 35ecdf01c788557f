"""The lab's second 110 PBX as files: a site like the first (its own ports,
operators and trunk to 12345), belonging to the 110 platform, and passing
linkdesk's own site check once the kit is rendered into it. The PBX itself
is started only by the lab tests that need it; `lab up` starts the pair."""

from __future__ import annotations

import shutil
from pathlib import Path

from linkdesk.bridge.app.config import load_config
from linkdesk.bridge.lab.layout import ON_DEMAND, PBX_NAMES, Paths, lab_settings, load_specs
from linkdesk.dialplan.kit import add_includes, write_kit
from linkdesk.dialplan.site_check import check_site

LAB = Path(__file__).resolve().parents[1] / "asterisk-config"
PATHS = Paths(config_dir=LAB, state_dir=Path("/nonexistent"))
ALL = (*PBX_NAMES, *ON_DEMAND)


def test_lab_up_starts_the_pair_and_the_second_110_pbx_is_on_demand():
    assert set(load_specs(PATHS)) == {"110", "12345"} and ON_DEMAND == ("110b",)


def test_the_second_110_pbx_has_ports_and_phones_of_its_own():
    specs = load_specs(PATHS, ALL)
    second, first = specs["110b"], specs["110"]
    assert (second.ami_port, second.sip_port) == (5338, 5360)
    assert [o.extension for o in second.operators] == ["1151", "1152"] and second.operators[0].password
    ports = [(s.ami_port, s.sip_port, *(p.sip_port for p in s.phones.values())) for s in specs.values()]
    flat = [port for group in ports for port in group]
    assert len(flat) == len(set(flat)), "no two lab PBXs or phones share a port"
    assert second.trunk_endpoint == first.trunk_endpoint == "to-12345"


def test_it_runs_the_110_platform_and_hands_calls_to_12345():
    config = load_config(base=lab_settings(PATHS, ALL), env={}, logins=False)
    assert config.platforms.pbxs_of("110") == ("110", "110b")
    assert config.platforms.is_diversion("110b", "12345") and config.platforms.is_police_pbx("110b")
    plan = config.dialplans["110b"]
    assert plan.trunks == ("to-12345",) and plan.targets == ("12345",)


def test_its_site_files_pass_linkdesks_site_check(tmp_path):
    plan = load_config(base=lab_settings(PATHS, ALL), env={}, logins=False).dialplans["110b"]
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "features.conf").write_text("[general]\n[featuremap]\n[applicationmap]\n")
    (etc / "confbridge.conf").write_text("[general]\n")
    for source in (LAB / "common", LAB / "110b"):
        for conf in source.glob("*.conf"):
            shutil.copy(conf, etc / conf.name)
    add_includes(write_kit(plan, etc), etc)
    problems = [f.text for f in check_site(plan, etc) if f.is_problem]
    assert problems == []
