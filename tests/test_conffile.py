"""The Asterisk .conf reader finds what the lab tooling reads: templates, `=>`,
comments, `#include`."""

from __future__ import annotations

import pytest

from linkdesk.dialplan.conffile import ConfError, find_section, parse_conf, read_conf

SAMPLE = """
; a comment
[general]
port = 5138 ; trailing comment
bindaddr=127.0.0.1

[common](!)
type = endpoint
allow = ulaw

[1101](common)
type = endpoint
context = from-operators

[1101]
type = aor
contact = sip:1101@127.0.0.1:5171

[queue-common](!)
strategy = rrmemory

[queue-a](queue-common)
member => PJSIP/1101,0,Operator 1101
member => PJSIP/1102
note = semi\\;colon
"""


def test_sections_templates_and_options_are_read_in_order():
    sections = parse_conf(SAMPLE)
    assert [s.name for s in sections] == ["general", "common", "1101", "1101", "queue-common", "queue-a"]
    assert sections[1].is_template and sections[2].templates == ("common",)
    assert find_section(sections, "general").get("port") == "5138"
    assert find_section(sections, "general").get("bindaddr") == "127.0.0.1"


def test_same_name_sections_are_told_apart_by_type():
    sections = parse_conf(SAMPLE)
    assert find_section(sections, "1101", "aor").get("contact") == "sip:1101@127.0.0.1:5171"
    assert find_section(sections, "1101", "endpoint").get("context") == "from-operators"


def test_arrow_options_repeat_and_escaped_semicolons_survive():
    queue = find_section(parse_conf(SAMPLE), "queue-a")
    assert queue.getall("member") == ["PJSIP/1101,0,Operator 1101", "PJSIP/1102"]
    assert queue.get("note") == "semi\\;colon"


def test_a_section_inherits_its_templates_options_and_type():
    text = """
[auth-common](!)
type = auth
auth_type = digest
[phone-common](!,auth-common)
username = nobody
[1101-auth](phone-common)
username = 1101
"""
    auth = find_section(parse_conf(text), "1101-auth", "auth")
    assert (auth.get("auth_type"), auth.get("username")) == ("digest", "1101")


def test_a_template_not_defined_before_its_use_is_refused():
    with pytest.raises(ConfError, match=r"\[a\] inherits from \[later\]"):
        find_section(parse_conf("[a](later)\nx = 1\n[later](!)\ny = 2\n"), "a")


def test_included_files_take_the_place_of_their_include_line(tmp_path):
    (tmp_path / "main.conf").write_text("[first]\na = 1\n#include extra.conf\n[last]\nc = 3\n")
    (tmp_path / "extra.conf").write_text("[middle]\nb = 2\n")
    assert [s.name for s in read_conf(tmp_path / "main.conf")] == ["first", "middle", "last"]
    assert [s.name for s in parse_conf((tmp_path / "main.conf").read_text())] == ["first", "last"]


def test_templates_are_not_found_as_sections():
    with pytest.raises(ConfError, match=r"no section \[common\]"):
        find_section(parse_conf(SAMPLE), "common")


@pytest.mark.parametrize("text, message", [
    ("port = 1\n", "option outside any section"),
    ("[general\n", "bad section header"),
    ("[a](x\n", "bad template list"),
    ("[a]\njust words\n", "expected 'name = value'"),
])
def test_malformed_lines_are_refused_with_their_place(text, message):
    with pytest.raises(ConfError, match=message) as err:
        parse_conf(text, "x.conf")
    assert "x.conf:" in str(err.value)
