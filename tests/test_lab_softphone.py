"""A real softphone on the receiving side (issue 14): Debian's baresip as
12345 operator 2101 shows what sipp cannot, what the receiver hears (the
whisper's prompt, then the citizen) and what its display decodes (a UTF-8
caller name). The citizen calls 110; whichever 110 operator answers presses
the blind key `*5`; 12345's queue rings baresip, the only 12345 phone."""

from __future__ import annotations

from pathlib import Path

import pytest

from ami_probe import EventRecorder, on_loop
from linkdesk.bridge.lab.baresip import Baresip, likeness, loudness, read_heard, sound_spans
from linkdesk.bridge.lab.layout import default_paths, lab_dialplans
from linkdesk.bridge.lab.pbx import contact_states
from linkdesk.dialplan.kit import whisper_prompts
from linkdesk.dialplan.sounds import seconds
from polling import until

CITIZEN = "13800138000"
NAME = "黄女士"
RECEIVER = "2101"
pytestmark = pytest.mark.lab


@pytest.fixture
def receiver(lab, tmp_path):
    """baresip registered as 12345 operator 2101, its contact reachable and
    no other 12345 operator's (a stale contact of a former test's phone is
    rung for the queue's 15 s timeout before the next one). Named before
    `phones`, so it still answers the BYEs of that fixture's teardown; its
    log and recording are kept in the test's tmp_path/baresip."""
    phone = Baresip(default_paths(), lab["12345"].phone(RECEIVER))
    try:
        phone.wait_registered()
        yield phone
    finally:
        phone.remove(keep_in=tmp_path / "baresip")


def _only_the_receiver_reachable() -> bool:
    """True when 12345 holds the receiver's contact as reachable and every
    other phone's contact (operators, bench phones) as unreachable."""
    states = contact_states(default_paths(), "12345")
    mine = [state for contact, state in states.items() if contact.startswith(f"{RECEIVER}/")]
    others = [state for contact, state in states.items() if not contact.startswith((f"{RECEIVER}/", "to-110/"))]
    return mine == ["Avail"] and all(state == "Unavail" for state in others)


async def _handed_over(lab, phones, **citizen):
    """A citizen calls 110 and is handed to 12345 with `*5` (every 110
    operator has a phone that presses it, so the queue never rings a stale
    contact); returns the citizen's sipp."""
    await until(_only_the_receiver_reachable, timeout=10)
    for operator in lab["110"].operators:
        phones.operator(operator, press="*5", press_after=1.0)
    return phones.citizen(lab["110"], "110", CITIZEN, talk_seconds=20, **citizen)


async def _prompt(ami12345, member: str) -> Path:
    """The normal lane's prompt as the receiver's channel `member` plays it:
    the file in its language (CHANNEL(language)), in the lab root."""
    reply = await ami12345.connection.send({"Action": "Getvar", "Channel": member, "Variable": "CHANNEL(language)"})
    plan = lab_dialplans(default_paths())["12345"]
    prompts = {p.lang: p for p in whisper_prompts(plan) if p.lane == "normal"}
    prompt = prompts.get(reply.Value, prompts["en"])
    return prompt.path(default_paths().root / plan.sounds_dir.lstrip("/"))


def _heard(receiver: Baresip) -> list[tuple[float, float]]:
    """The stretches of sound in what the receiver has heard so far (s from answering)."""
    return sound_spans(*read_heard(receiver.recording))


@on_loop
async def test_the_receiver_hears_the_whisper_then_the_citizen(lab, receiver, phones, linkdesk):
    plan = lab_dialplans(default_paths())["12345"]
    async with EventRecorder(lab["12345"]) as ami12345:
        await _handed_over(lab, phones, speak_seconds=30)
        connected = await ami12345.wait_for("AgentConnect", CallerIDNum=CITIZEN, timeout=30)
        assert connected.DestChannel.startswith(f"PJSIP/{RECEIVER}-"), connected
        prompt = await _prompt(ami12345, connected.DestChannel)
        accepted = await ami12345.wait_for("UserEvent", UserEvent="LinkdeskWhisper")
        assert (accepted.Result, accepted.Key) == ("accepted", ""), "no key: bridged once the prompt ran out"
        # The prompt, then the citizen's voice once bridged: two stretches of sound.
        try:
            spans = await until(lambda: len(spans := _heard(receiver)) >= 2 and spans, timeout=15)
        except TimeoutError:
            pytest.fail(f"baresip heard {_heard(receiver)} (s of sound), not the prompt and then the citizen; "
                        f"its log:\n{receiver.log()[-3000:]}")
    (start, end), (citizen_from, _) = spans[0], spans[1]
    assert start < 1.0, f"the prompt starts as the receiver answers: {spans}"
    assert abs((end - start) - seconds(prompt)) < 0.35, \
        f"heard {end - start:.2f} s, {prompt.name} is {seconds(prompt):.2f} s: {spans}"
    alike = likeness(loudness(*read_heard(receiver.recording), start, end), loudness(*read_heard(prompt)))
    assert alike > 0.9, f"what the receiver heard first is not shaped like {prompt}: {alike:.2f}"
    assert citizen_from - end > plan.whisper_wait - 0.3, f"bridged only after the whisper's wait: {spans}"
    assert len(receiver.calls("CALL_ESTABLISHED")) == 1, receiver.events()


@on_loop
async def test_the_receivers_phone_shows_the_citizens_utf8_name(lab, receiver, phones, linkdesk):
    await _handed_over(lab, phones, name=NAME)
    try:
        incoming = (await until(lambda: receiver.calls("CALL_INCOMING"), timeout=30))[0]
    except TimeoutError:
        pytest.fail(f"baresip reported no incoming call: {receiver.events()}\n{receiver.log()[-3000:]}")
    assert incoming["peerdisplayname"] == NAME, incoming
    assert incoming["peeruri"].startswith(f"sip:{CITIZEN}@"), incoming
    await until(lambda: receiver.calls("CALL_ESTABLISHED"), timeout=15)
