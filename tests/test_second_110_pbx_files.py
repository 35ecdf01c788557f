"""The lab's second 110 PBX as files: a site like the first (its own ports,
operators and trunk to 12345), belonging to the 110 platform, and passing
linkdesk's own site check once the kit is rendered into it. The PBX itself
is started only by the lab tests that need it; `lab up` starts the pair."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from linkdesk.bridge.app.config import load_config
from linkdesk.bridge.lab.layout import (ON_DEMAND, PBX_NAMES, LabError, Paths, lab_pbx_names, lab_settings,
                                        load_specs)
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


def site_problems(pbx: str, names: tuple[str, ...], etc: Path) -> list[str]:
    """What the site check finds in lab PBX `pbx`'s site files with the kit rendered into them."""
    plan = load_config(base=lab_settings(PATHS, names), env={}, logins=False).dialplans[pbx]
    etc.mkdir()
    (etc / "features.conf").write_text("[general]\n[featuremap]\n[applicationmap]\n")
    (etc / "confbridge.conf").write_text("[general]\n")
    for source in (LAB / "common", LAB / pbx):
        for conf in source.glob("*.conf"):
            shutil.copy(conf, etc / conf.name)
    add_includes(write_kit(plan, etc), etc)
    return [f.text for f in check_site(plan, etc) if f.is_problem]


def test_its_site_files_pass_linkdesks_site_check(tmp_path):
    assert site_problems("110b", ALL, tmp_path / "etc") == []


def test_12345_dials_its_trunk_to_110_then_the_one_to_the_second_110_pbx():
    spec = load_specs(PATHS)["12345"]
    assert spec.trunk_endpoints == ("to-110", "to-110b") and spec.trunk_endpoint == "to-110"
    plan = load_config(base=lab_settings(PATHS), env={}, logins=False).dialplans["12345"]
    assert plan.trunks == ("to-110", "to-110b")


def test_12345s_site_files_pass_the_site_check_with_both_trunks(tmp_path):
    assert site_problems("12345", PBX_NAMES, tmp_path / "etc") == []


def test_lab_pbxs_names_the_pbxs_a_lab_linkdesk_logs_in_to():
    assert lab_pbx_names({}) == PBX_NAMES
    assert lab_pbx_names({"LINKDESK_LAB_PBXS": "110, 12345,110b"}) == ("110", "12345", "110b")


@pytest.mark.parametrize("value", ["110,110c", "110,110", "110,,12345"])
def test_lab_pbxs_with_an_unknown_or_repeated_name_is_refused(value):
    with pytest.raises(LabError, match="LINKDESK_LAB_PBXS"):
        lab_pbx_names({"LINKDESK_LAB_PBXS": value})
