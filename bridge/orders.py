"""Orders: the case a transfer creates. Full circulation comes with its own issue."""

from __future__ import annotations

import re

# WO: work order (to 12345), PO: police order (to 110), LO: linkage order.
ORDER_ID = re.compile(r"(WO|PO|LO)-[0-9a-f]{12}")


def is_order_id(text: str) -> bool:
    return bool(ORDER_ID.fullmatch(text))
