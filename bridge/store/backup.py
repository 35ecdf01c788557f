"""A copy of the store taken while linkdesk runs, through SQLite's online
backup API: one consistent snapshot (in WAL mode a reader never blocks the
writer, and the writer never tears the copy), never a half-written file."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path


class BackupError(RuntimeError):
    """The backup cannot be made; the message names the file and why."""


def backup(source: Path, dest: Path) -> int:
    """Copy the store at `source` to the new file `dest`; the schema version
    copied. BackupError, with nothing written, if `source` is no store or
    `dest` already exists or cannot be written."""
    if not source.is_file():
        raise BackupError(f"no store at {source}")
    if dest.exists():
        raise BackupError(f"{dest} already exists: give a new file name")
    # Written beside `dest` and renamed once whole: `dest` is a complete copy or absent.
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as db, \
                closing(sqlite3.connect(partial)) as copy:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.backup(copy)
            check = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy of {source} failed SQLite's integrity check: {check}")
        os.replace(partial, dest)
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"cannot back up {source} to {dest}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return version
