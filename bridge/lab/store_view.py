"""A linkdesk store read from outside the process, as the lab's tests and
benches read it: an SQLite file (read-only) or a PostgreSQL URL, the same
queries for both. Never used by linkdesk itself, which has its stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from linkdesk.bridge.store.sql import is_postgres_url

# A schema's own tables on PostgreSQL, with their indexes and TOAST: what the file holds on SQLite.
_PG_SIZE = ("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'")


class StoreView:
    def __init__(self, where: Path | str):
        self.where = where

    def rows(self, sql: str, *args) -> list[dict]:
        """The rows of `sql` (`?` placeholders) as dicts; [] while the store or the table does not exist yet."""
        if is_postgres_url(self.where):
            return self._pg_rows(sql, args)
        if not Path(self.where).exists():
            return []
        with sqlite3.connect(f"file:{self.where}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in db.execute(sql, args)]
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise

    def size_bytes(self) -> int:
        """What the store takes on disk (PostgreSQL: its schema's tables)."""
        if is_postgres_url(self.where):
            import psycopg

            with psycopg.connect(self.where) as db:
                return int(db.execute(_PG_SIZE).fetchone()[0])
        return sum(p.stat().st_size for p in (Path(self.where), Path(f"{self.where}-wal")) if p.exists())

    def _pg_rows(self, sql: str, args: tuple) -> list[dict]:
        # Imported here: a lab on SQLite loads no PostgreSQL driver.
        import psycopg
        from psycopg.rows import dict_row

        from linkdesk.bridge.store.postgresql import translated

        with psycopg.connect(self.where) as db:
            db.row_factory = dict_row
            try:
                found = db.execute(translated(sql), args).fetchall()
            except psycopg.errors.UndefinedTable:
                return []
        # The store's stand-in for SQLite's rowid is never part of a row (PostgresDatabase).
        return [{k: v for k, v in row.items() if k != "rowid"} for row in found]
