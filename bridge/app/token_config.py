"""The `[tokens]` table, read into the API's named, scoped tokens.

Two forms, side by side:

    [tokens]
    "110" = "…"                    # a platform's token: named after it, every scope

    [tokens.desk-1101]             # a named token
    platform = "110"
    file = "/etc/linkdesk/tokens/desk-1101"     # or value = "…"
    scopes = ["transfers", "events"]

`LINKDESK_TOKEN_<NAME>` in the environment gives (or overrides) the simple
form's token for NAME. A token file is read again on every reload, which is
how a token is rotated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from linkdesk.bridge.core.tokens import SCOPES, ApiToken

MIN_LENGTH = 8
_TABLE_KEYS = {"platform", "file", "value", "scopes"}


class TokenConfigError(ValueError):
    """A token setting or token file cannot be used; the message names it."""


def read_tokens(table: dict, env: Mapping[str, str]) -> tuple[ApiToken, ...]:
    """Every token `table` and the environment give; TokenConfigError on the first bad one."""
    simple = {str(name): value for name, value in table.items() if not isinstance(value, dict)}
    for key, value in env.items():
        if key.startswith("LINKDESK_TOKEN_"):
            simple[key.removeprefix("LINKDESK_TOKEN_")] = value
    tokens = [_simple(name, value) for name, value in simple.items()]
    tokens += [_named(str(name), value) for name, value in table.items() if isinstance(value, dict)]
    _check_unique(tokens)
    return tuple(tokens)


def _simple(name: str, value) -> ApiToken:
    return ApiToken(name=name, platform=name, secret=_checked(value, f"tokens.{name}"))


def _named(name: str, table: dict) -> ApiToken:
    where = f"tokens.{name}"
    unknown = set(table) - _TABLE_KEYS
    if unknown:
        raise TokenConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    if not isinstance(table.get("platform"), str) or not table["platform"]:
        raise TokenConfigError(f"{where}: platform = \"<the platform this token acts for>\" is required")
    if ("file" in table) == ("value" in table):
        raise TokenConfigError(f"{where}: give exactly one of file or value")
    secret = _from_file(table["file"], where) if "file" in table else _checked(table["value"], f"{where}.value")
    return ApiToken(name=name, platform=table["platform"], secret=secret, scopes=_scopes(table, where))


def _scopes(table: dict, where: str) -> frozenset[str]:
    scopes = table.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(s in SCOPES for s in scopes):
        raise TokenConfigError(f"{where}.scopes: a non-empty list of {', '.join(SCOPES)}, got {scopes!r}")
    return frozenset(scopes)


def _from_file(path, where: str) -> str:
    if not isinstance(path, str):
        raise TokenConfigError(f"{where}.file: expected a path, got {path!r}")
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenConfigError(f"{where}.file: cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from None
    return _checked(text.strip(), f"{where}.file {path}")


def _checked(secret, where: str) -> str:
    if not isinstance(secret, str) or len(secret) < MIN_LENGTH or any(c.isspace() for c in secret):
        raise TokenConfigError(f"{where}: a token is a string of at least {MIN_LENGTH} characters without spaces")
    return secret


def _check_unique(tokens: list[ApiToken]) -> None:
    seen: dict[str, str] = {}
    for token in tokens:
        if token.secret in seen:
            raise TokenConfigError(f"tokens.{token.name}: the same token as tokens.{seen[token.secret]}")
        seen[token.secret] = token.name
