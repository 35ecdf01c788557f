"""`linkdesk store backup DEST | purge`: the store's upkeep, safe while
`linkdesk serve` runs on it (WAL: the backup reads one snapshot; the purge is
one short transaction)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from linkdesk.bridge.app.config import ConfigError, load_config

DAY = 86400.0


def add_parser(commands) -> None:
    store = commands.add_parser("store", help="back up the store; purge personal data past retention")
    verbs = store.add_subparsers(dest="store_command", required=True)
    backup = verbs.add_parser("backup", help="copy the store to a new file (SQLite online backup)")
    backup.add_argument("dest", help="the new file to write")
    purge = verbs.add_parser("purge", help="anonymise what is older than [store] retention_days")
    for verb in (backup, purge):
        verb.add_argument("--config", required=True, help="TOML config whose [store] to use")
    store.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, logins=False)
    path = Path(config.store_path)
    if args.store_command == "backup":
        return _backup(path, Path(args.dest))
    return _purge(path, config.store_retention_days)


def _backup(path: Path, dest: Path) -> int:
    from linkdesk.bridge.store.backup import backup

    version = backup(path, dest)
    print(f"backed up {path} (schema version {version}) to {dest}")
    return 0


def _purge(path: Path, days: int | None) -> int:
    if days is None:
        raise ConfigError("store.retention_days is not set: nothing to purge (set it to the days to keep)")
    if not path.is_file():
        print(f"linkdesk: no store at {path}", file=sys.stderr)
        return 2
    from linkdesk.bridge.store.database import open_store
    from linkdesk.bridge.store.retention import purge

    now = time.time()
    before = now - days * DAY
    store = open_store(path)
    try:
        report = purge(store.db.conn, before, now)
    finally:
        store.db.conn.close()
    print(f"{path}: kept everything changed since {datetime.fromtimestamp(before):%Y-%m-%d %H:%M:%S} "
          f"({days} day(s))")
    for line in report.lines():
        print(line)
    return 0
