"""Identifiers linkdesk gives out: a prefix that says what the thing is, and
twelve hex digits (`tr-…` a transfer, `WO-…` a work order, …)."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
