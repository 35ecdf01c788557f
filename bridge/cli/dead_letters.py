"""`linkdesk orders dead-letters` and `linkdesk orders requeue ID…`: the
webhook events parked after failing for `[orders] dead_letter_after`
seconds, and putting them back in their platform's queue (due at once)."""

from __future__ import annotations

import sys
import time
from datetime import datetime


def requeue(store, ids: list[str]) -> int:
    """Requeue the dead letters `ids` (as listed); exit status. An id that is not
    a dead letter's refuses the whole command, and nothing is requeued."""
    parked = {row["id"] for row in store.dead_letters()}
    wrong = [text for text in ids if not text.isdigit() or int(text) not in parked]
    if wrong:
        print(f"linkdesk: not a dead letter: {', '.join(wrong)} (see `linkdesk orders dead-letters`); "
              "nothing requeued", file=sys.stderr)
        return 1
    with store.transaction():
        count = store.requeue(sorted({int(text) for text in ids}), time.time())
    print(f"requeued {count} event(s)")
    return 0


def dead_letter_line(row: dict) -> str:
    since = datetime.fromtimestamp(row["failing_since"]).strftime("%Y-%m-%d %H:%M:%S")
    return (f"{row['id']:>6}  {row['platform']:<6} {row['event_id']}  {row['order_id']}  {row['action']:<10} "
            f"{row['attempts']} attempts, failing since {since}: {row['last_error']}")
