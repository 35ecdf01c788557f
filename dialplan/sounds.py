"""The whisper's prompts: what the receiving operator hears before a handed-over
call is bridged. Rendered with Debian's espeak-ng (Mandarin and English) and
sox (to the 8 kHz mono WAV Asterisk plays), at render time, never at run
time; a site replaces a prompt by putting its own file in its place (a file
that is already there is kept).

Files land as `<folder>/<lang>/<name>.wav` and the dialplan plays
`<folder>/<name>`: for an absolute path Asterisk looks in `<lang>/` first,
so it picks the operator channel's language (`zh` or `en`; others fall
back to `en`). A prompt is named by what it says (the platform it comes
from), so PBXs that share a folder share its prompts.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from linkdesk.dialplan.keys import KitError

TOOLS = ("espeak-ng", "sox")
# espeak-ng voice and words per minute: the emergency lane's prompt must stay under about 2 s.
VOICES = {"en": "en", "zh": "cmn"}
SPEED = {"normal": 230, "emergency": 270}
EMERGENCY_MOST_SECONDS = 2.0


@dataclass(frozen=True)
class Prompt:
    """One prompt in one language."""

    name: str        # the file's name, without .wav
    lang: str
    lane: str
    text: str

    def path(self, folder: Path) -> Path:
        return folder / self.lang / f"{self.name}.wav"


def spoken_number(number: str) -> str:
    """Digits one by one ("1 1 0"), as an operator says a platform's number."""
    return " ".join(number)


def prompt_name(lane: str, source: str) -> str:
    """The prompt of a call handed over from `source` on `lane`."""
    return f"{'emergency' if lane == 'emergency' else 'whisper'}-from-{source}"


def prompts(source: str, accept: str, reject: str) -> list[Prompt]:
    """Both lanes' prompts, in both languages, for a call from platform `source`."""
    said = spoken_number(source)
    texts = {("normal", "en"): f"Call from {said}, order attached. {accept} to accept, {reject} to send back.",
             ("normal", "zh"): f"{said} 转来，附工单。接听按 {accept}，退回按 {reject}。",
             ("emergency", "en"): f"Emergency from {said}",
             ("emergency", "zh"): f"{said} 紧急转接"}
    return [Prompt(prompt_name(lane, source), lang, lane, text) for (lane, lang), text in texts.items()]


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def write_prompts(items: list[Prompt], sounds: Path) -> tuple[list[Path], list[Path]]:
    """Render each prompt not already in `sounds`; (written, kept). KitError
    when espeak-ng or sox is missing, or an emergency prompt runs too long."""
    todo = [item for item in items if not item.path(sounds).exists()]
    kept = [item.path(sounds) for item in items if item.path(sounds).exists()]
    if todo and missing_tools():
        raise KitError(f"the whisper's prompts need {' and '.join(missing_tools())} "
                       "(Debian: apt-get install espeak-ng sox)")
    written = []
    for item in todo:
        target = item.path(sounds)
        target.parent.mkdir(parents=True, exist_ok=True)
        _speak(item, target)
        length = seconds(target)
        if item.lane == "emergency" and length > EMERGENCY_MOST_SECONDS:
            target.unlink()
            raise KitError(f"{item.name} ({item.lang}) runs {length:.1f} s; the emergency lane's "
                           f"whisper stays under {EMERGENCY_MOST_SECONDS:.0f} s")
        written.append(target)
    return written, kept


def _speak(item: Prompt, target: Path) -> None:
    with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
        subprocess.run(["espeak-ng", "-v", VOICES[item.lang], "-s", str(SPEED[item.lane]), "-w", raw.name,
                        item.text], check=True, capture_output=True)
        # 8 kHz mono 16-bit, leading and trailing silence trimmed, a little headroom
        subprocess.run(["sox", "-q", raw.name, "-r", "8000", "-c", "1", "-b", "16", str(target),
                        "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse",
                        "vol", "0.8"], check=True, capture_output=True)


def seconds(path: Path) -> float:
    """How long a WAV file plays."""
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()
