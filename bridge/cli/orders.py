"""`linkdesk orders list | show ID | events ID | dead-letters | requeue ID…`:
the orders in linkdesk's store, for operators and support staff (every
platform's; read only but for requeueing webhook dead letters)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from linkdesk.bridge.app.config import DEFAULT_STORE, load_config
from linkdesk.bridge.cli import dead_letters
from linkdesk.bridge.core.orders import public
from linkdesk.bridge.store.sql import is_postgres_url


def add_parser(commands) -> None:
    orders = commands.add_parser("orders", help="the orders in linkdesk's store")
    orders.add_argument("--store", help=f"the SQLite store (default: the config's, else {DEFAULT_STORE})")
    orders.add_argument("--config", help="TOML config whose [store] (path or url) to read")
    orders.add_argument("--json", action="store_true", help="machine-readable output")
    verbs = orders.add_subparsers(dest="orders_command", required=True)
    listing = verbs.add_parser("list", help="orders, oldest first")
    listing.add_argument("--state")
    listing.add_argument("--kind")
    listing.add_argument("--to")
    listing.add_argument("--from", dest="sender")
    listing.add_argument("--limit", type=int, default=50)
    for verb, text in (("show", "one order"), ("events", "an order's audit trail")):
        verbs.add_parser(verb, help=text).add_argument("id")
    _dead_letter_verbs(verbs)
    orders.set_defaults(func=run)


def _dead_letter_verbs(verbs) -> None:
    """The webhook dead letters' verbs; they also take --store/--config after the verb."""
    listing = verbs.add_parser("dead-letters", help="webhook events parked after failing too long")
    requeue = verbs.add_parser("requeue", help="put dead letters back in their platform's queue")
    requeue.add_argument("ids", nargs="+", metavar="ID", help="as `dead-letters` lists them")
    for verb in (listing, requeue):
        verb.add_argument("--store", default=argparse.SUPPRESS, help="the SQLite store")
        verb.add_argument("--config", default=argparse.SUPPRESS, help="TOML config whose [store] (path or url) to read")


def run(args: argparse.Namespace) -> int:
    where = args.store or _configured_store(args.config) or DEFAULT_STORE
    if not is_postgres_url(where) and not Path(where).exists():
        print(f"linkdesk: no store at {where}", file=sys.stderr)
        return 2
    from linkdesk.bridge.store.database import open_store

    store = open_store(where).orders
    if args.orders_command == "dead-letters":
        return _print(args, store.dead_letters(), dead_letters.dead_letter_line)
    if args.orders_command == "requeue":
        return dead_letters.requeue(store, args.ids)
    if args.orders_command == "list":
        filters = {"state": args.state, "kind": args.kind, "to": args.to, "from": args.sender, "since": None}
        return _print(args, [public(o) for o in store.search(None, filters, args.limit, 0)], _order_line)
    order = store.get(args.id)
    if order is None:
        print(f"linkdesk: no order {args.id!r}", file=sys.stderr)
        return 1
    if args.orders_command == "show":
        return _print(args, [public(order)], _order_details)
    return _print(args, store.events(args.id), _event_line)


def _configured_store(config: str | None) -> str | None:
    return load_config(config, logins=False).store if config else None


def _print(args, rows: list[dict], line) -> int:
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            print(line(row))
    return 0


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _order_line(order: dict) -> str:
    number = "anonymous" if order["caller_withheld"] else (order["caller_number"] or "-")
    return (f"{order['id']}  {order['kind']:<7} {order['from_platform']:>5} → {order['to_platform']:<5} "
            f"{order['state']:<9} v{order['version']}  {number:<13} {_when(order['created_at'])}  "
            f"{order['summary'] or ''}")


def _order_details(order: dict) -> str:
    return "\n".join(f"{name:<15} {_when(value) if name.endswith('_at') else value}"
                     for name, value in order.items() if value not in (None, ""))


def _event_line(event: dict) -> str:
    detail = ", ".join(f"{k}: {v}" for k, v in event["detail"].items())
    return f"{_when(event['at'])}  v{event['version']:<3} {event['action']:<10} by {event['actor']:<8} {detail}"
