"""Rotating the API's tokens in a running linkdesk: the config's [tokens]
and the token files are read again and replace the ring whole. Connections
stay open and a request already authenticated finishes; a bad file keeps
the tokens in use and says why, in one line."""

from __future__ import annotations

import logging
import os
from typing import Mapping

from linkdesk.bridge.app.config import ConfigError, load_tokens
from linkdesk.bridge.core.tokens import TokenRing

log = logging.getLogger("linkdesk")


def reload_tokens(ring: TokenRing, path: str | None, base: dict | None = None,
                  env: Mapping[str, str] = os.environ) -> bool:
    """Replace `ring`'s tokens with what the config says now; False (and the
    old tokens kept) when that cannot be read."""
    try:
        tokens = load_tokens(path, env, base)
    except ConfigError as exc:
        log.error("tokens not reloaded, the old ones stay in use: %s", exc)
        return False
    replace_tokens(ring, tokens)
    return True


def replace_tokens(ring: TokenRing, tokens) -> None:
    """Put `tokens` (a config's, read again on SIGHUP) in the ring's place, and say whose they are."""
    ring.replace(tokens)
    log.info("tokens reloaded: %s", ", ".join(token.name for token in tokens) or "none")
