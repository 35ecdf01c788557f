"""[store]: where the store lives, an SQLite file (`path`, the default) or a
PostgreSQL database that several instances share (`url`), and how long it
keeps citizens' personal data."""

from __future__ import annotations

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict

from linkdesk.bridge.app.config_error import ConfigError
from linkdesk.bridge.store.sql import POSTGRES_SCHEMES, is_postgres_url

SCHEMA = {"path": str, "url": str, "sync": str, "retention_days": int}
URL_FORM = "postgresql://USER@HOST[:PORT]/DBNAME"


def store_settings(store: dict) -> dict:
    """Config's store_* fields for a [store] table already checked against SCHEMA;
    ConfigError naming the setting when one is wrong or two contradict."""
    if store.get("sync", "normal") not in ("normal", "full"):
        raise ConfigError(f"store.sync: expected \"normal\" or \"full\", got {store['sync']!r}")
    if store.get("retention_days", 1) < 1:
        raise ConfigError(f"store.retention_days: whole days >= 1, got {store['retention_days']!r}")
    if "url" in store:
        _check_url(store)
    names = {"path": "store_path", "url": "store_url", "sync": "store_sync", "retention_days": "store_retention_days"}
    return {names[key]: value for key, value in store.items()}


def _check_url(store: dict) -> None:
    url = store["url"]
    if "path" in store:
        raise ConfigError("store.url and store.path: give one (url: a PostgreSQL database; path: an SQLite file)")
    if "sync" in store:
        raise ConfigError("store.sync is SQLite's setting; on PostgreSQL durability is the server's "
                          "(synchronous_commit)")
    if not is_postgres_url(url):
        raise ConfigError(f"store.url: a PostgreSQL URL ({' or '.join(POSTGRES_SCHEMES)}), like {URL_FORM}")
    try:
        conninfo_to_dict(url)
    except ProgrammingError as exc:
        # libpq's own words, which name the part it could not read (never the password).
        raise ConfigError(f"store.url: not a PostgreSQL URL like {URL_FORM}: {' '.join(str(exc).split())}") from None
