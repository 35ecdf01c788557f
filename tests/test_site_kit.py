"""`linkdesk site render`: the kit follows linkdesk's config, for a plain
Asterisk and a FreePBX, and a bad setting writes nothing."""

from __future__ import annotations

import pytest

from linkdesk.bridge.cli.main import main
from linkdesk.dialplan.conffile import parse_conf
from linkdesk.dialplan.keys import DEFAULT_KEYS, KitError
from linkdesk.dialplan.kit import add_includes, kit, write_kit
from linkdesk.dialplan.render import PbxDialplan, render_extensions

PLAN = PbxDialplan(pbx="12345", trunk="to-110", home_queue="12345-intake", targets=("110",), emergency=("110",),
                   queues=("12345-intake",), ami_secret="s3cret")


def files(plan=PLAN, layout="plain") -> dict[str, str]:
    return {item.name: item.text for item in kit(plan, layout)}


def test_contexts_use_the_configured_trunk_queue_and_agi_address():
    text = render_extensions(PbxDialplan(pbx="110", trunk="trunk-x", home_queue="q-home", agi_urls=("agi://10.0.0.5:4573",)))
    names = [s.name for s in parse_conf(text)]
    assert names == ["linkdesk-transfer", "linkdesk-unstamp", "linkdesk-answered", "linkdesk-return",
                     "linkdesk-conference", "linkdesk-conference-end", "linkdesk-conference-dial", "linkdesk-room-answered",
                     "linkdesk-unit-dial",
                     "linkdesk-conference-key", "linkdesk-key", "linkdesk-operator", "linkdesk-refer", "linkdesk-refer-back",
                     "linkdesk-consult", "linkdesk-consult-dial", "linkdesk-predial",
                     "linkdesk-inbound", "linkdesk-whisper"]
    assert "PJSIP/${EXTEN}@trunk-x," in text and "?q-home:" in text
    assert "agi://10.0.0.5:4573/inbound?trunk=trunk-x" in text


def test_the_grant_gives_the_operators_channel_the_keys_and_the_desk_mark():
    operator = next(s for s in parse_conf(files()["linkdesk-extensions.conf"]) if s.name == "linkdesk-operator")
    steps = operator.getall("exten") + operator.getall("same")
    assert "linkdesk_emergency#linkdesk_xfer_cancel#linkdesk_non_police)" in steps[0]
    assert steps[0].startswith("s,1,Set(__DYNAMIC_FEATURES=") and "linkdesk_xfer_blind#linkdesk_xfer_warm#" in steps[0]
    assert steps[1] == "n,Set(__LINKDESK_DESK=12345)" and steps[-1] == "n,Return()"


def test_the_cancel_key_in_a_room_is_no_gosub_so_it_has_no_return():
    key = next(s for s in parse_conf(files()["linkdesk-extensions.conf"]) if s.name == "linkdesk-conference-key")
    assert key.getall("exten") == ["cancel,1,AGI(agi://127.0.0.1:4573/transfer_cancel?pbx=12345)",
                                   "take,1,AGI(agi://127.0.0.1:4573/conference_take?pbx=12345)"]
    assert key.getall("same") == []


def test_feature_keys_name_the_pbx_the_target_and_the_lane_and_the_digit_timeout():
    text = files()["linkdesk-features.conf"]
    sections = parse_conf(text)
    assert [(s.name, s.templates) for s in sections] == [("general", ("+",)), ("applicationmap", ("+",))]
    assert sections[0].get("featuredigittimeout") == "1000"
    assert "linkdesk_xfer_blind => *5,self,Gosub(linkdesk-key,s,1(transfer?pbx=12345&to=110&mode=blind))" in text
    # keys that move the operator into a room run their AGI directly (see kit.MOVES_THE_OPERATOR)
    assert "linkdesk_emergency => *9,self,Gosub(linkdesk-key,s,1(transfer?pbx=12345&to=110&lane=emergency))" in text
    assert "linkdesk_xfer_warm => *6,self,Gosub(linkdesk-key,s,1(transfer?pbx=12345&to=110&mode=warm))" in text
    assert "linkdesk_non_police => *8,self,Gosub(linkdesk-key,s,1(non_police?pbx=12345))" in text


def test_a_key_runs_its_route_and_sounds_refused_when_it_fails():
    plan = PbxDialplan(pbx="110", trunk="t", home_queue="q", targets=("12345",), agi_urls=("agi://10.0.0.5:4573",),
                       refused_sound="custom/refused")
    key = next(s for s in parse_conf(render_extensions(plan)) if s.name == "linkdesk-key")
    steps = key.getall("exten") + key.getall("same")
    assert steps[0] == "s,1,Set(LINKDESK_RESULT=)" and steps[1] == "n,AGI(agi://10.0.0.5:4573/${ARG1})"
    assert steps[2] == 'n,GotoIf($["${LINKDESK_RESULT}" = "ok"]?done)'
    assert "n,Playback(custom/refused)" in steps and steps[-1] == "n(done),Return()"


def test_confbridge_profiles_detect_talking_and_carry_the_menu_keys():
    sections = {s.name: s for s in parse_conf(files()["linkdesk-confbridge.conf"])}
    assert list(sections) == ["linkdesk_bridge", "linkdesk_citizen", "linkdesk_operator", "linkdesk_menu"]
    assert sections["linkdesk_citizen"].get("talk_detection_events") == "yes"
    assert sections["linkdesk_operator"].get("talk_detection_events") == "yes"
    assert sections["linkdesk_citizen"].get("end_marked") == "yes" and sections["linkdesk_operator"].get("marked") == "yes"
    assert sections["linkdesk_menu"].get("*4") == "leave_conference"
    assert sections["linkdesk_menu"].get("*7") == "dialplan_exec(linkdesk-conference-key,cancel,1)"
    assert sections["linkdesk_menu"].get("*3") == "dialplan_exec(linkdesk-conference-key,take,1)"


def test_the_manager_user_holds_only_the_classes_linkdesk_needs():
    sections = parse_conf(files()["linkdesk-manager.conf"])
    general, user = sections
    assert general.templates == ("+",) and general.get("timestampevents") == "yes"
    assert general.get("channelvars") == "LINKDESK_ROLE,LINKDESK_ORDER_ID,QUEUESTATUS"
    assert (user.name, user.get("secret"), user.get("deny")) == ("linkdesk", "s3cret", "0.0.0.0/0.0.0.0")
    assert user.get("read") == "system,call,agent,user,dtmf" and user.get("write") == "call,agent,originate,reporting"


def test_without_a_secret_only_the_manager_user_is_left_out():
    plan = PbxDialplan(pbx="110", trunk="t", home_queue="q", targets=("12345",))
    assert "linkdesk-manager.conf" not in files(plan) and "linkdesk-features.conf" in files(plan)


def test_queue_and_trunk_settings_are_added_to_the_sites_own_sections():
    queues = parse_conf(files()["linkdesk-queues.conf"])
    assert [(q.name, q.templates, q.get("setqueuevar")) for q in queues] == [("12345-intake", ("+",), "yes")]
    trunk = parse_conf(files()["linkdesk-pjsip.conf"])
    assert [(s.name, s.templates) for s in trunk] == [("linkdesk-trunk", ("!",))]
    assert trunk[0].get("identify_by") == "ip" and trunk[0].get("trust_id_outbound") == "yes"


def test_every_file_names_the_version_and_the_site_file_that_includes_it():
    for item in kit(PLAN):
        assert item.text.startswith("; Rendered by linkdesk ") and f"included from {item.include_from}" in item.text
        assert " unknown " not in item.text.splitlines()[0]


def test_the_freepbx_layout_fits_its_custom_files():
    items = {item.include_from: item for item in kit(PLAN, "freepbx")}
    assert set(items) == {"extensions_custom.conf", "features_general_custom.conf",
                          "features_applicationmap_custom.conf", "confbridge_custom.conf", "manager_custom.conf",
                          "queues_post_custom.conf", "pjsip.endpoint_custom_post.conf"}
    # included inside [applicationmap] and [general]: no section headers of their own
    assert "[" not in items["features_applicationmap_custom.conf"].text
    assert "featuredigittimeout = 1000" in items["features_general_custom.conf"].text
    trunk = parse_conf(items["pjsip.endpoint_custom_post.conf"].text)
    assert [(s.name, s.templates, s.get("identify_by")) for s in trunk] == [("to-110", ("+",), "ip")]


def test_includes_are_added_once_at_the_right_place(tmp_path):
    (tmp_path / "features.conf").write_text("[general]\n[featuremap]\n[applicationmap]\n")
    (tmp_path / "pjsip.conf").write_text("[to-110](linkdesk-trunk)\ntype = endpoint\n")
    changed = add_includes(kit(PLAN), tmp_path)
    assert tmp_path / "features.conf" in changed
    assert (tmp_path / "features.conf").read_text().splitlines()[-1] == "#include linkdesk-features.conf"
    assert (tmp_path / "pjsip.conf").read_text().splitlines()[0] == "#include linkdesk-pjsip.conf"
    assert add_includes(kit(PLAN), tmp_path) == []


@pytest.mark.parametrize("keys, message", [
    ({"warm": "*5"}, "blind (*5) and warm (*5) clash"),
    ({"blind": "*55", "warm": "*5"}, "blind (*55) and warm (*5) clash"),
    ({"leave": "#4"}, "keys.leave: '#4' cannot start with '#'"),
    ({"blind": "*x"}, "is not a key sequence"),
    ({"leave": "*7"}, "leave (*7) and cancel (*7) clash"),
])
def test_bad_keys_are_refused_naming_the_setting_and_nothing_is_written(tmp_path, keys, message):
    plan = PbxDialplan(pbx="110", trunk="t", home_queue="q", targets=("12345",), keys={**DEFAULT_KEYS, **keys})
    with pytest.raises(KitError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        write_kit(plan, tmp_path)
    assert list(tmp_path.iterdir()) == []


def config_file(tmp_path, dialplan: str, extra: str = "") -> str:
    path = tmp_path / "linkdesk.toml"
    path.write_text(f'[pbx.110]\nsecret = "s-110-secret"\n[pbx.110.transfer]\ntargets = {{ "12345" = "12345" }}\n'
                    f'[pbx.110.dialplan]\n{dialplan}\n[pbx.12345]\nsecret = "x"\n{extra}')
    return str(path)


@pytest.mark.parametrize("dialplan, message", [
    ('trunk = "t"\nhome_queue = "q"\nkeys = { blind = "*6" }', "pbx.110.dialplan.keys: blind (*6) and warm (*6) clash"),
    ('trunk = "t"\nhome_queue = "q"\nkeys = { leave = "#4" }', "pbx.110.dialplan.keys.leave"),
    ('trunk = "t"\nhome_queue = "q"\nqueues = ["other"]', "pbx.110.dialplan.queues"),
    ('trunk = "t"\nhome_queue = "q"\nkeys = { transfer = "*1" }', "unknown key(s) transfer"),
])
def test_render_refuses_a_bad_config_naming_the_setting(tmp_path, capsys, dialplan, message):
    out = tmp_path / "etc"
    assert main(["site", "render", "--pbx", "110", "--config", config_file(tmp_path, dialplan), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_render_refuses_a_target_platform_the_config_does_not_have(tmp_path, capsys):
    path = tmp_path / "linkdesk.toml"
    path.write_text('[pbx.110.transfer]\ntargets = { "999" = "999" }\n[pbx.110.dialplan]\ntrunk = "t"\nhome_queue = "q"\n')
    assert main(["site", "render", "--pbx", "110", "--config", str(path), "--out", str(tmp_path / "etc")]) == 2
    assert "pbx.110.transfer: names platform(s) 999" in capsys.readouterr().err


def test_render_refuses_queue_and_trunk_names_the_site_does_not_have(tmp_path, capsys):
    out = tmp_path / "etc"
    out.mkdir()
    (out / "queues.conf").write_text("[general]\n[110-intake]\nstrategy = rrmemory\n")
    (out / "pjsip.conf").write_text("[to-12345]\ntype = aor\n")
    dialplan = 'trunk = "to-12345"\nhome_queue = "110-intake"\nqueues = ["110-intake", "110-vip"]'
    assert main(["site", "render", "--pbx", "110", "--config", config_file(tmp_path, dialplan), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "queues.conf has no queue '110-vip'" in err and "pjsip.conf has no endpoint 'to-12345'" in err
    assert sorted(p.name for p in out.iterdir()) == ["pjsip.conf", "queues.conf"]


def test_a_refer_to_another_number_finds_the_operators_context_even_once_the_phone_hung_up():
    sections = {s.name: s for s in parse_conf(files()["linkdesk-extensions.conf"])}
    grant = sections["linkdesk-operator"].getall("same")
    assert "n,Set(MASTER_CHANNEL(LINKDESK_SITE_CONTEXT)=${LINKDESK_SITE_CONTEXT})" in grant
    refer = [step for step in sections["linkdesk-refer"].getall("exten") + sections["linkdesk-refer"].getall("same")
             if "LINKDESK_REFER_CONTEXT" in step]
    assert refer[0] == "_X.,1,Set(LINKDESK_REFER_CONTEXT=${IMPORT(${BLINDTRANSFER},LINKDESK_SITE_CONTEXT)})"
    assert refer[1] == ('n,ExecIf($["${LINKDESK_REFER_CONTEXT}" = ""]?'
                        'Set(LINKDESK_REFER_CONTEXT=${LINKDESK_SITE_CONTEXT}))')
