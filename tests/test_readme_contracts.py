"""The README's contracts, checked against the code: the configuration sample
loads exactly as printed (and drives both `serve` and `dialplan render`), and
the table of error ids is the one the code answers with."""

from __future__ import annotations

import re
from pathlib import Path

from linkdesk.bridge.app.config import load_config
from linkdesk.bridge.cli.main import main
from linkdesk.bridge.core.errors import REASONS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
SECRETS = {"LINKDESK_PBX_110_SECRET": "s-110", "LINKDESK_PBX_12345_SECRET": "s-12345"}


def configuration_sample() -> str:
    section = README[README.index("## Configuration"):]
    return re.search(r"```toml\n(.*?)```", section, re.S).group(1)


def test_the_readme_configuration_sample_loads_as_printed_for_serve(tmp_path):
    path = tmp_path / "linkdesk.toml"
    path.write_text(configuration_sample())
    config = load_config(str(path), env=SECRETS)     # the secret files do not exist here: env overrides them
    assert [pbx.name for pbx in config.pbxs] == ["110", "12345"] and config.pbxs[1].secret == "s-12345"
    assert config.plans["12345"].targets == {("110", "normal"): "110", ("110", "emergency"): "11099"}
    assert {(t.name, t.platform, t.secret) for t in config.tokens} == {
        ("110", "110", "replace-with-110s-token"), ("12345", "12345", "replace-with-12345s-token")}
    assert config.units["gas"].dial == "PJSIP/1901@to-gas" and config.store_sync == "normal"
    assert (config.dialplans["12345"].trunk, config.dialplans["12345"].emergency) == ("to-110", ("110",))
    assert config.dialplans["110"].queues == ("110-intake", "110-emergency")
    assert config.dialplans["110"].ami_secret == "s-110"     # for the manager.conf user it renders
    assert (config.service.drain_seconds, config.log.level, config.log.format) == (10.0, "info", "plain")


def test_site_render_reads_the_same_file_and_without_a_secret_skips_only_the_manager_user(tmp_path, capsys):
    path = tmp_path / "linkdesk.toml"
    path.write_text(configuration_sample())
    out = tmp_path / "etc"
    host = tmp_path / "pbx-host"
    assert main(["site", "render", "--pbx", "12345", "--config", str(path), "--out", str(out),
                 "--sounds-root", str(host)]) == 0
    assert (host / "usr/local/share/asterisk/sounds/linkdesk/zh/whisper-from-110.wav").exists()
    features = (out / "linkdesk-features.conf").read_text()
    assert "linkdesk_emergency => *9,self,Gosub(linkdesk-key,s,1(transfer?pbx=12345&to=110&lane=emergency))" \
        in features
    assert "AGI(agi://127.0.0.1:4573/${ARG1})" in (out / "linkdesk-extensions.conf").read_text()
    assert "PJSIP/${EXTEN}@to-110," in (out / "linkdesk-extensions.conf").read_text()
    assert not (out / "linkdesk-manager.conf").exists()
    assert "skipped linkdesk-manager.conf" in capsys.readouterr().out


def test_site_render_names_a_pbx_without_dialplan_settings(tmp_path, capsys):
    path = tmp_path / "serve.toml"
    path.write_text('[pbx.110]\nsecret = "x"\n')
    assert main(["site", "render", "--pbx", "110", "--config", str(path), "--out", str(tmp_path)]) == 2
    assert "pbx.110.dialplan: no such table" in capsys.readouterr().err


def test_the_error_table_is_the_codes_own():
    section = README[README.index("## Error ids"):]
    table = {m.group(1): (int(m.group(2)), m.group(3).strip())
             for m in re.finditer(r"^\| `([a-z-]+)` \| (\d{3}) \| (.*) \|$", section, re.M)}
    assert table == REASONS


def test_every_id_the_code_raises_is_in_the_table():
    repo = Path(__file__).resolve().parents[1]
    raised = set()
    for room in ("agi", "ami", "bridge", "dialplan", "metrics"):
        for path in (repo / room).rglob("*.py"):
            text = path.read_text()
            raised |= set(re.findall(r'(?:Error|NotFound)\(\s*"([a-z]+(?:-[a-z]+)+)"', text))
            raised |= set(re.findall(r'^\s+reason = "([a-z]+(?:-[a-z]+)+)"', text, re.M))
            raised |= set(re.findall(r'report_error\([^,]+, "([a-z]+(?:-[a-z]+)+)"', text))
    assert raised, "the scan found the ids"
    assert sorted(raised - set(REASONS)) == []
