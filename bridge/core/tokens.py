"""The HTTP API's bearer tokens: each has a name (a desk, a case system), the
platform it acts for, and the scopes it may use.

A presented token is compared with every token held, in constant time, so
neither which token matched nor how much of one matched shows in the timing.
The ring is replaced whole on a reload: a request already authenticated
keeps the token it was given, the next one meets the new set.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Iterable

SCOPES = ("transfers", "conferences", "orders", "events", "metrics")


@dataclass(frozen=True)
class ApiToken:
    """One bearer token; its secret never appears in a repr or a log."""

    name: str
    platform: str
    secret: str = field(repr=False)
    scopes: frozenset[str] = frozenset(SCOPES)

    @property
    def digest(self) -> bytes:
        return _digest(self.secret)


def _digest(text: str) -> bytes:
    # Equal-length values for compare_digest, whatever the tokens' lengths.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


class TokenRing:
    """The tokens the API accepts now; `replace` swaps them all at once."""

    def __init__(self, tokens: Iterable[ApiToken] = ()):
        self.replace(tokens)

    def replace(self, tokens: Iterable[ApiToken]) -> None:
        self._held = tuple((token.digest, token) for token in tokens)

    def match(self, presented: str) -> ApiToken | None:
        """The token whose secret is `presented`, None if none is; every held
        token is compared, with no early exit."""
        given = _digest(presented)
        found = None
        for digest, token in self._held:
            if hmac.compare_digest(digest, given) and found is None:
                found = token
        return found
