"""PJSIP endpoint names as a site's config may give them (a trunk, a
linkage unit's way out). Such a name is written into Dial() and into a
FastAGI argument, so it is letters, digits, `.`, `_` and `-`, starting with a
letter or digit: never a comma, space, `&`, `/` or `@` that would add a dial
target or an option."""

from __future__ import annotations

import re

_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def is_endpoint_name(name: object) -> bool:
    """True when `name` is a string fit to be a PJSIP endpoint in a dial string."""
    return isinstance(name, str) and _ENDPOINT.fullmatch(name) is not None
