"""`linkdesk store backup DEST | purge`: the store's upkeep, safe while
`linkdesk serve` runs on it (WAL: the backup reads one snapshot; the purge is
one short transaction).

`backup` copies an SQLite file; a PostgreSQL store is backed up with
pg_dump, the site's tool for its databases (it matches the server's
version, takes the site's credentials and is consistent while linkdesk
writes); linkdesk says so rather than run a pg_dump of its own choosing."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.store.sql import display_name, is_postgres_url

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
    if args.store_command == "backup":
        return _backup(config.store, Path(args.dest))
    return _purge(config.store, config.store_retention_days)


def _backup(where: str, dest: Path) -> int:
    from linkdesk.bridge.store.backup import BackupError, backup

    if is_postgres_url(where):
        raise BackupError(f"store.url is a PostgreSQL database: back it up with PostgreSQL's pg_dump, e.g. "
                          f"pg_dump --format=custom --file={dest} '{display_name(where)}' "
                          "(`store backup` copies an SQLite file)")
    path = Path(where)
    version = backup(path, dest)
    print(f"backed up {path} (schema version {version}) to {dest}")
    return 0


def _purge(where: str, days: int | None) -> int:
    if days is None:
        raise ConfigError("store.retention_days is not set: nothing to purge (set it to the days to keep)")
    if not is_postgres_url(where) and not Path(where).is_file():
        print(f"linkdesk: no store at {where}", file=sys.stderr)
        return 2
    from linkdesk.bridge.store.database import open_store
    from linkdesk.bridge.store.retention import purge

    now = time.time()
    before = now - days * DAY
    store = open_store(where)
    try:
        report = purge(store.db, before, now)
    finally:
        store.db.close()
    print(f"{store.db.name}: kept everything changed since {datetime.fromtimestamp(before):%Y-%m-%d %H:%M:%S} "
          f"({days} day(s))")
    for line in report.lines():
        print(line)
    return 0
