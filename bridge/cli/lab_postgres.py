"""`linkdesk lab postgres up | down | status [--cluster DIR]`: the lab's own
PostgreSQL (bridge/lab/postgres.py), for trying `[store] url` by hand; the
tests start theirs themselves."""

from __future__ import annotations

import argparse
from pathlib import Path

from linkdesk.bridge.lab import postgres


def add_parser(lab_commands) -> None:
    command = lab_commands.add_parser("postgres", help="the lab's PostgreSQL: a cluster of linkdesk's own, on "
                                                       "127.0.0.1")
    verbs = command.add_subparsers(dest="postgres_command", required=True)
    for verb, text in (("up", "make the cluster if need be, start it; print its URL"),
                       ("down", "stop it, by its pid"), ("status", "its URL if it runs")):
        verbs.add_parser(verb, help=text).add_argument(
            "--cluster", type=Path, default=postgres.DEFAULT_CLUSTER,
            help=f"the cluster's directory (default {postgres.DEFAULT_CLUSTER})")


def run(args: argparse.Namespace) -> int:
    if args.postgres_command == "up":
        server = postgres.start(args.cluster)
        print(f"PostgreSQL on {args.cluster}: pid {server.pid}, url = \"{server.url()}\"")
    elif args.postgres_command == "down":
        print(f"PostgreSQL on {args.cluster}: {'stopped' if postgres.stop(args.cluster) else 'was not running'}")
    else:
        server = postgres.status(args.cluster)
        print(f"PostgreSQL on {args.cluster}: " + (f"up, pid {server.pid}, url = \"{server.url()}\""
                                                   if server else "down"))
        return 0 if server else 1
    return 0
