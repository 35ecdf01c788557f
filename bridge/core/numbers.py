"""Citizens' numbers: one normal form, validated, with the privacy flag.

The normal form is the national one, digits only: +86 138 0013 8000,
0086-13800138000 and 138-0013-8000 are all 13800138000; a landline keeps
its trunk prefix (010 8888 6666 → 01088886666). A withheld number stays
withheld on displays but is carried for the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from linkdesk.bridge.core.errors import LinkdeskError

WITHHELD_WORDS = frozenset({"anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})
_SEPARATORS = re.compile(r"[ \-().]")  # not \s: a CR or LF is refused, never stripped
_DIGITS = re.compile(r"\d{3,15}")


class InvalidNumber(LinkdeskError, ValueError):
    """Not a telephone number."""

    def __init__(self, message: str):
        super().__init__("caller-number-invalid", message)


@dataclass(frozen=True)
class CallerNumber:
    """A citizen's number in normal form; `number` is '' when nothing was sent at all."""

    number: str
    withheld: bool = False


def normalise(raw: str) -> str:
    """The national digits-only form of `raw`; InvalidNumber if it is not a number."""
    text = _SEPARATORS.sub("", raw or "")
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif text.startswith("+"):
        text = text[1:]  # another country: keep its digits, and they must be digits
    if not _DIGITS.fullmatch(text):
        raise InvalidNumber(f"not a telephone number: {raw[:40]!r}")
    return text


def caller_number(raw: str, presentation: str = "", withheld: bool = False) -> CallerNumber:
    """The citizen's number from what the PBX reports, honouring a withheld presentation.

    `presentation` is Asterisk's CALLERID(num-pres) (e.g. `prohib_passed_screen`);
    a number sent with a restricted presentation is kept, flagged withheld.
    """
    restricted = withheld or presentation.startswith(("prohib", "unavailable"))
    if (raw or "").strip().lower() in WITHHELD_WORDS or not (raw or "").strip():
        return CallerNumber("", withheld=True)
    return CallerNumber(normalise(raw), withheld=restricted)
