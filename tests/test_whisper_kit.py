"""The whisper as rendered into the kit: the receiver's prompt and keys
before the bridge, and the prompts themselves (espeak-ng and sox, installed
by ./run, render them)."""

from __future__ import annotations

import wave

import pytest

from linkdesk.dialplan.conffile import parse_conf
from linkdesk.dialplan.keys import KitError
from linkdesk.dialplan.kit import kit, render_queues, whisper_prompts, write_whisper_prompts
from linkdesk.dialplan.render import PbxDialplan, render_extensions
from linkdesk.dialplan.sounds import EMERGENCY_MOST_SECONDS, seconds

PLAN = PbxDialplan(pbx="12345", trunk="to-110", home_queue="12345-intake", targets=("110",), emergency=("110",),
                   queues=("12345-intake",), sounds_dir="/srv/prompts")


def whisper_steps(plan: PbxDialplan = PLAN) -> list[str]:
    section = next(s for s in parse_conf(render_extensions(plan)) if s.name == "linkdesk-whisper")
    return section.getall("exten") + section.getall("same")


def test_the_whisper_passes_a_call_that_was_not_handed_over_straight_through():
    steps = whisper_steps()
    assert steps[0] == 's,1,GotoIf($["${LINKDESK_WHISPER}" = ""]?done)'
    assert "n(done),Return()" in steps


def test_the_caller_is_not_answered_until_the_receiver_accepts():
    steps = whisper_steps()
    hold = steps.index("n,Set(MASTER_CHANNEL(BRIDGE_NOANSWER)=yes)")
    prompt = next(i for i, step in enumerate(steps) if step.startswith("n(normal),Read("))
    accept = steps.index("n(accept),Set(MASTER_CHANNEL(BRIDGE_NOANSWER)=)")
    assert hold < prompt < accept
    # the reject key goes to linkdesk, then ends the receiver's leg with the caller still unanswered
    reject = steps.index("n(reject),AGI(agi://127.0.0.1:4573/whisper_reject?pbx=12345)")
    assert steps[reject + 1] == "n,Hangup()" and accept < reject


def test_each_lane_plays_its_own_prompt_naming_the_platform_the_call_comes_from():
    steps = whisper_steps()
    assert "n(normal),Read(LINKDESK_WHISPER_KEY,/srv/prompts/whisper-from-110,1,,1,2)" in steps
    # the emergency lane: the short prompt, barely a wait after it
    assert "n(emergency),Read(LINKDESK_WHISPER_KEY,/srv/prompts/emergency-from-110,1,,1,0.2)" in steps
    assert 'n(decide),GotoIf($["${LINKDESK_WHISPER_KEY}" = "2"]?reject)' in steps


def test_a_lane_without_a_whisper_bridges_at_once():
    steps = whisper_steps(PbxDialplan(**{**PLAN.__dict__, "whisper_lanes": ("normal",), "whisper_reject": "9"}))
    assert "n(emergency),Goto(accept)" in steps
    assert 'n(decide),GotoIf($["${LINKDESK_WHISPER_KEY}" = "9"]?reject)' in steps


def test_every_operator_queue_runs_the_whisper_as_its_member_gosub():
    text = render_queues(PLAN)
    assert "[12345-intake](+)" in text and "membergosub = linkdesk-whisper" in text


@pytest.mark.parametrize("change, setting", [({"whisper_lanes": ("normal", "urgent")}, "whisper_lanes"),
                                             ({"whisper_accept": "2"}, "whisper_accept"),
                                             ({"whisper_reject": "12"}, "whisper_accept"),
                                             ({"whisper_wait": 30}, "whisper_wait"),
                                             ({"sounds_dir": "prompts, here"}, "sounds_dir")])
def test_a_wrong_whisper_setting_is_refused_naming_it(change, setting):
    with pytest.raises(KitError, match=setting):
        kit(PbxDialplan(**{**PLAN.__dict__, **change}))


def test_the_prompts_are_rendered_in_mandarin_and_english_as_8khz_wav(tmp_path):
    written, kept = write_whisper_prompts(PLAN, tmp_path)
    assert kept == []
    names = sorted(str(path.relative_to(tmp_path)) for path in written)
    # Asterisk plays /srv/prompts/NAME from /srv/prompts/<the channel's language>/NAME.wav
    assert names == ["srv/prompts/en/emergency-from-110.wav", "srv/prompts/en/whisper-from-110.wav",
                     "srv/prompts/zh/emergency-from-110.wav", "srv/prompts/zh/whisper-from-110.wav"]
    for path in written:
        with wave.open(str(path)) as audio:
            assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert seconds(path) > 0.5, f"{path} is (nearly) silent"


def test_the_emergency_lanes_prompt_stays_under_two_seconds(tmp_path):
    written, _ = write_whisper_prompts(PLAN, tmp_path)
    for path in written:
        if path.name.startswith("emergency-"):
            assert seconds(path) < EMERGENCY_MOST_SECONDS, path


def test_a_prompt_the_site_replaced_is_kept(tmp_path):
    own = tmp_path / "srv" / "prompts" / "zh" / "whisper-from-110.wav"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"the site's own recording")
    written, kept = write_whisper_prompts(PLAN, tmp_path)
    assert kept == [own] and own.read_bytes() == b"the site's own recording"
    assert own not in written and len(written) == 3


def test_the_prompts_name_the_keys_the_site_chose():
    texts = {item.text for item in whisper_prompts(PbxDialplan(**{**PLAN.__dict__, "whisper_accept": "5",
                                                                     "whisper_reject": "6"}))}
    assert "Call from 1 1 0, order attached. 5 to accept, 6 to send back." in texts
