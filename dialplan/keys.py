"""The operators' keys: linkdesk's defaults and the rules every key obeys.

The defaults avoid the in-call keys of a stock Asterisk features.conf sample
(`#1` blind transfer, `*0` disconnect, `*1` recording, `*2` attended transfer,
`*3` MixMonitor) and of FreePBX (`*1` recording, `*2` attended transfer,
`##` blind transfer, `**` disconnect): a key that equals another, or starts
another, makes Asterisk run the wrong one or wait for digits that never come.
"""

from __future__ import annotations

DEFAULT_KEYS = {"blind": "*5", "warm": "*6", "cancel": "*7", "leave": "*4", "emergency": "*9", "non_police": "*8",
                "take": "*3"}
DIGITS = set("0123456789*#ABCD")
# Keys pressed in a call (features.conf) and in a three-way room (the ConfBridge menu)
CALL_KEYS = ("blind", "warm", "emergency", "cancel", "non_police")
ROOM_KEYS = ("leave", "cancel", "take")    # take: "we take the matter" (the ownership decision)


class KitError(ValueError):
    """A setting the kit cannot be rendered from; the message names it."""


def clashes(first: str, second: str) -> bool:
    """Whether two key sequences get in each other's way: equal, or one starts the other."""
    return first.startswith(second) or second.startswith(first)


def check_keys(keys: dict[str, str], where: str) -> None:
    """Raise KitError for a key that is empty, not DTMF, starts with `#`
    (Asterisk reads a line starting with `#` as a directive in a ConfBridge
    menu), or clashes with another key pressed in the same place."""
    for name, key in keys.items():
        if not isinstance(key, str) or not key or not set(key) <= DIGITS:
            raise KitError(f"{where}.keys.{name}: {key!r} is not a key sequence (digits, * and #)")
        if key.startswith("#"):
            raise KitError(f"{where}.keys.{name}: {key!r} cannot start with '#'")
    for group in (CALL_KEYS, ROOM_KEYS):
        present = [name for name in group if name in keys]
        for index, name in enumerate(present):
            for other in present[index + 1:]:
                if clashes(keys[name], keys[other]):
                    raise KitError(f"{where}.keys: {name} ({keys[name]}) and {other} ({keys[other]}) clash: "
                                    "one equals or starts the other")
