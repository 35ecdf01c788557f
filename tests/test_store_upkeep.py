"""The store's upkeep without a network: a store from a newer build refused,
the online backup (SQLite's; PostgreSQL's is pg_dump), the retention purge
(the CLI's, and serve's daily one on an injected clock) and its metric,
their settings; on both databases but for the backup."""

from __future__ import annotations

import base64
import logging
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock

from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.retention import DailyPurge
from linkdesk.bridge.app.wiring import build
from linkdesk.bridge.cli.main import main as cli_main
from linkdesk.bridge.core.orders import OrderService
from linkdesk.bridge.core.webhooks import WebhookService
from linkdesk.bridge.store.database import connect, open_store
from linkdesk.bridge.store import migrations
from linkdesk.bridge.store.leases import LeaseStore
from linkdesk.bridge.store.migrations import MIGRATIONS, StoreVersionError
from linkdesk.bridge.store.retention import oldest_reader
from linkdesk.bridge.store.sql import Database, display_name
from linkdesk.metrics.store import NAME, StoreAgeCollector

DAY = 86400.0


TABLES = ("transfers", "transfer_events", "orders", "order_events", "outbox", "webhooks", "idempotency",
          "conferences", "conference_events")


def _config(tmp_path: Path, store: Path | str, extra: str = "") -> Path:
    """A config whose [store] is the SQLite file `store`, or the line `store` (`store_at.store_setting`)."""
    setting = store if isinstance(store, str) else f'path = "{store}"'
    config = tmp_path / "linkdesk.toml"
    config.write_text(f'[store]\n{setting}\n{extra}')
    return config


def _snapshot(db: Database) -> tuple:
    """Everything in the store, on either database: its schema version and every table's rows."""
    return db.schema_version(), {table: sorted(map(tuple, db.execute(f"SELECT * FROM {table}").fetchall()), key=repr)
                                 for table in TABLES}


def _transfer(conn: Database, transfer_id: str, order_id: str, at: float) -> None:
    with conn:
        conn.execute("INSERT INTO transfers (id, call_id, pbx, target, mode, lane, trigger, citizen_channel, "
                     "caller_number, caller_withheld, order_id, state, created_at, updated_at) VALUES "
                     "(?, ?, '110', '12345', 'blind', 'normal', 'key', 'PJSIP/c-1', '13800138000', 0, ?, "
                     "'completed', ?, ?)", [transfer_id, f"call-{transfer_id}", order_id, at, at])
        conn.execute("INSERT INTO transfer_events (transfer_id, at, state, detail) VALUES (?, ?, 'error', "
                     "'redirect: refused (13800138000)')", [transfer_id, at])


def _aged_order(orders: OrderService, days_ago: float, summary: str) -> dict:
    """An order with texts, an answered feedback trail, an idempotency answer and a
    delivered webhook event, all last changed `days_ago`."""
    order = orders.create("110", {"to": "12345", "caller_number": "13800138000", "summary": summary,
                                  "location": "Road 1"}, idempotency=(f"key-{summary}", summary))["order"]
    orders.act("12345", order["id"], "accept", 1)
    orders.act("12345", order["id"], "feedback", 2, f"note on {summary}")
    at = time.time() - days_ago * DAY
    conn = orders.store.db
    with conn:
        conn.execute("UPDATE orders SET updated_at = ?, created_at = ? WHERE id = ?", [at, at, order["id"]])
        conn.execute("UPDATE order_events SET at = ? WHERE order_id = ?", [at, order["id"]])
        conn.execute("UPDATE idempotency SET at = ? WHERE key = ?", [at, f"key-{summary}"])
        conn.execute("UPDATE outbox SET done_at = ? WHERE payload LIKE ?", [at, f'%"{order["id"]}"%'])
    _transfer(conn, f"TR-{summary}", order["id"], at)
    return orders.store.get(order["id"])


def _aged_store(where: Path | str):
    """A store with an order (and its transfer) last changed 40 days ago and one 10 days ago."""
    store = open_store(where)
    orders = OrderService(store.orders, {"110", "12345"})
    WebhookService(store.orders).register("110", "https://case.example/110",
                                          ["whsec_" + base64.b64encode(b"secret-of-110-xxxxxxxxxxxxxx").decode()])
    old, new = _aged_order(orders, 40, "old"), _aged_order(orders, 10, "new")
    return store, old, new


@pytest.fixture
def aged(store_at):
    """`_aged_store` on each database: (its [store] setting, the store, the old order, the new one)."""
    store, old, new = _aged_store(store_at("linkdesk.db"))
    yield store_at.store_setting("linkdesk.db"), store, old, new
    store.db.close()


@pytest.fixture
def aged_file(tmp_path):
    """`_aged_store` in an SQLite file, for the backup: (its path, the store, the old order, the new one)."""
    path = tmp_path / "linkdesk.db"
    store, old, new = _aged_store(path)
    yield path, store, old, new
    store.db.close()


def _rows_of(conn: Database, order_id: str, transfer_id: str, key: str) -> dict[str, list[tuple]]:
    """Every row that belongs to one order, table by table."""
    queries = {"orders": ("id = ?", order_id), "order_events": ("order_id = ?", order_id),
               "transfers": ("id = ?", transfer_id), "transfer_events": ("transfer_id = ?", transfer_id),
               "idempotency": ("key = ?", key), "outbox": ("payload LIKE ?", f"%{order_id}%")}
    return {table: conn.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY rowid", [arg]).fetchall()
            for table, (where, arg) in queries.items()}


def _newer_store(where: Path | str) -> tuple:
    """Make the store at `where` look written by the next build; what it then holds."""
    db = open_store(where).db
    try:
        db.set_schema_version(len(MIGRATIONS) + 1)
        return _snapshot(db)
    finally:
        db.close()


def test_a_store_from_a_newer_build_is_refused_and_left_unchanged(store_at):
    where = store_at("newer.db")
    before = _newer_store(where), Path(where).read_bytes() if store_at.backend == "sqlite" else None
    with pytest.raises(StoreVersionError) as refused:
        open_store(where)
    assert str(refused.value).startswith(f"store {display_name(where)}: its schema is version "
                                         f"{len(MIGRATIONS) + 1}, newer than this linkdesk knows ({len(MIGRATIONS)})")
    db = connect(where)
    try:
        assert (_snapshot(db), Path(where).read_bytes() if store_at.backend == "sqlite" else None) == before
    finally:
        db.close()


def test_a_newer_build_leaves_a_store_another_instance_is_using_alone_and_upgrades_it_once_that_one_stops(
        store_at, monkeypatch):
    where = store_at("shared.db")
    running = open_store(where)
    LeaseStore(running.db).acquire("linkdesk", "host-a:4242:0badcafe", 30)
    applied = []
    # This build has one migration more than the running instance's.
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS + (applied.append,))
    with pytest.raises(StoreVersionError) as refused:
        open_store(where)
    assert f"its schema is version {len(MIGRATIONS)}, older than this linkdesk's ({len(MIGRATIONS) + 1}), " \
           "and instance host-a:4242:0badcafe is using it" in str(refused.value)
    assert (applied, running.db.schema_version()) == ([], len(MIGRATIONS))
    LeaseStore(running.db).release("linkdesk", "host-a:4242:0badcafe")
    upgraded = open_store(where)
    assert (len(applied), upgraded.schema_version) == (1, len(MIGRATIONS) + 1)
    for store in (running, upgraded):
        store.db.close()


def test_serve_on_a_store_from_a_newer_build_exits_2_with_one_line(tmp_path, store_at):
    where = store_at("newer.db")
    _newer_store(where)
    config = _config(tmp_path, store_at.store_setting("newer.db"), '[pbx.110]\nsecret = "x"\n[agi]\nport = 0\n')
    out = subprocess.run([sys.executable, "-m", "linkdesk.bridge.cli", "serve", "--config", str(config),
                          "--http-port", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        f"linkdesk: store {display_name(where)}: its schema is version {len(MIGRATIONS) + 1}, newer than this "
        f"linkdesk knows ({len(MIGRATIONS)}): it was written by a newer build; run that one, or a backup made by "
        "this one"]


def test_backup_copies_the_committed_store_while_a_writer_holds_a_transaction(aged_file, tmp_path, capsys):
    path, store, old, new = aged_file
    committed = list(store.db.conn.iterdump())
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE orders SET summary = 'uncommitted' WHERE id = ?", [new["id"]])
    dest = tmp_path / "backup.db"
    try:
        assert cli_main(["store", "backup", "--config", str(_config(tmp_path, path)), str(dest)]) == 0
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert capsys.readouterr().out == f"backed up {path} (schema version {len(MIGRATIONS)}) to {dest}\n"
    with sqlite3.connect(dest) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert list(copy.iterdump()) == committed
    assert open_store(dest).orders.get(new["id"])["summary"] == "new"


def test_backup_refuses_an_existing_destination_and_a_missing_store_and_writes_nothing(aged_file, tmp_path,
                                                                                       capsys):
    path = aged_file[0]
    dest = tmp_path / "taken.db"
    dest.write_text("someone's file")
    assert cli_main(["store", "backup", "--config", str(_config(tmp_path, path)), str(dest)]) == 2
    assert cli_main(["store", "backup", "--config", str(_config(tmp_path, tmp_path / "none.db")),
                     str(tmp_path / "new.db")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"linkdesk: {dest} already exists: give a new file name", f"linkdesk: no store at {tmp_path / 'none.db'}"]
    assert dest.read_text() == "someone's file"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("new", "taken"))) == ["taken.db"]


def test_backup_of_a_postgresql_store_points_to_pg_dump_and_writes_nothing(tmp_path, postgres_server, capsys):
    url = postgres_server.url("linkdesk_tests")
    dest = tmp_path / "backup.db"
    assert cli_main(["store", "backup", "--config", str(_config(tmp_path, f'url = "{url}"')), str(dest)]) == 2
    assert capsys.readouterr().err == (f"linkdesk: store.url is a PostgreSQL database: back it up with PostgreSQL's "
                                       f"pg_dump, e.g. pg_dump --format=custom --file={dest} '{url}' "
                                       "(`store backup` copies an SQLite file)\n")
    assert not dest.exists()


def test_purge_anonymises_exactly_what_is_older_than_the_period(aged, tmp_path, capsys):
    path, store, old, new = aged
    conn = store.db
    untouched = _rows_of(conn, new["id"], "TR-new", "key-new")
    old_deliveries = conn.execute("SELECT COUNT(*) FROM outbox WHERE payload LIKE ?", [f'%{old["id"]}%']).fetchone()
    config = _config(tmp_path, path, "retention_days = 30\n")
    assert cli_main(["store", "purge", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["anonymised 1 transfer(s) and the details of 1 of their events",
                       "anonymised 1 order(s) and the details of 3 of their events",
                       f"deleted {old_deliveries[0]} delivered webhook event(s) and 1 idempotency answer(s)"]
    assert old_deliveries[0] > 0
    assert out[0].startswith(f"{store.db.name}: kept everything changed since ") and out[0].endswith("(30 day(s))")
    purged = store.orders.get(old["id"])
    assert {k: purged[k] for k in ("caller_number", "summary", "location", "reason", "result")} == {
        "caller_number": "", "summary": None, "location": None, "reason": None, "result": None}
    assert (purged["state"], purged["caller_withheld"], purged["created_at"]) == ("accepted", 0, old["created_at"])
    assert purged["purged_at"] is not None
    assert [e["detail"] for e in store.orders.events(old["id"])] == [{}, {}, {}]
    assert conn.execute("SELECT caller_number FROM transfers WHERE id = 'TR-old'").fetchone() == ("",)
    assert conn.execute("SELECT detail FROM transfer_events WHERE transfer_id = 'TR-old'").fetchall() == [(None,)]
    assert conn.execute("SELECT COUNT(*) FROM outbox WHERE payload LIKE ?", [f'%{old["id"]}%']).fetchone() == (0,)
    assert all(untouched.values()), "every table has rows of the newer order to keep"
    assert _rows_of(conn, new["id"], "TR-new", "key-new") == untouched
    assert cli_main(["store", "purge", "--config", str(config)]) == 0
    assert "anonymised 0 order(s) and the details of 0 of their events" in capsys.readouterr().out


def test_purge_without_retention_days_says_so_and_changes_nothing(aged, tmp_path, capsys):
    path, store = aged[0], aged[1]
    before = _snapshot(store.db)
    assert cli_main(["store", "purge", "--config", str(_config(tmp_path, path))]) == 2
    assert capsys.readouterr().err == ("linkdesk: store.retention_days is not set: nothing to purge "
                                       "(set it to the days to keep)\n")
    assert _snapshot(store.db) == before


@pytest.mark.parametrize("setting, message", [
    ("retention_days = 0", "store.retention_days: whole days >= 1, got 0"),
    ('retention_days = "30"', "store.retention_days: expected int, got '30'"),
    ("retention_days = 1.5", "store.retention_days: expected int, got 1.5")])
def test_a_bad_retention_setting_is_refused_with_the_setting_named(tmp_path, setting, message):
    with pytest.raises(ConfigError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        load_config(str(_config(tmp_path, tmp_path / "s.db", setting + "\n")), logins=False)


def test_the_oldest_record_metric_is_the_age_of_the_oldest_unpurged_record(aged, tmp_path, capsys):
    path, store, old, new = aged
    now = time.time()
    registry = CollectorRegistry()
    registry.register(StoreAgeCollector(oldest_reader(store.db), clock=lambda: now))
    assert registry.get_sample_value(NAME) == pytest.approx(now - old["updated_at"])
    assert registry.get_sample_value(NAME) == pytest.approx(40 * DAY, abs=60)
    assert cli_main(["store", "purge", "--config", str(_config(tmp_path, path, "retention_days = 30\n"))]) == 0
    assert registry.get_sample_value(NAME) == pytest.approx(now - new["updated_at"])
    with store.db:
        store.db.execute("UPDATE transfers SET purged_at = 1")
        store.db.execute("UPDATE orders SET purged_at = 1")
    assert registry.get_sample_value(NAME) == 0.0


def _drain(clock: Clock) -> None:
    """Run the purge's batches: each one schedules the next at once."""
    while clock.getDelayedCalls() and min(c.getTime() for c in clock.getDelayedCalls()) <= clock.seconds():
        clock.advance(0)


def test_serve_purges_at_start_and_then_daily_in_batches(aged, caplog):
    path, store, old, new = aged
    clock = Clock()
    daily = DailyPurge(store.db, 30, clock, now=lambda: time.time() + clock.seconds(), batch=1)
    deliveries = store.db.execute("SELECT COUNT(*) FROM outbox WHERE payload LIKE ?",
                                       [f'%{old["id"]}%']).fetchone()[0]
    with caplog.at_level(logging.INFO, logger="linkdesk.retention"):
        daily.start()
        _drain(clock)
    assert store.orders.get(old["id"])["caller_number"] == ""
    assert store.orders.get(new["id"])["caller_number"] == "13800138000"
    assert caplog.messages == ["retention (30 days): anonymised 1 transfer(s) and the details of 1 of their events; "
                               "anonymised 1 order(s) and the details of 3 of their events; "
                               f"deleted {deliveries} delivered webhook event(s) and 1 idempotency answer(s)"]
    clock.advance(19 * DAY)      # the newer one is now 10 + 19 days old: a day more to go
    _drain(clock)
    assert store.orders.get(new["id"])["caller_number"] == "13800138000"
    clock.advance(DAY)
    _drain(clock)
    assert store.orders.get(new["id"])["caller_number"] == ""
    daily.stop()
    assert clock.getDelayedCalls() == []


def test_the_process_with_retention_purges_daily_and_exposes_the_oldest_record_metric(tmp_path, store_at):
    config = _config(tmp_path, store_at.store_setting(), 'retention_days = 30\n[pbx.110]\nsecret = "x"\n')
    process = build(load_config(str(config), env={}), event_loop())
    try:
        assert process.retention.days == 30
        assert process.metrics.registry.get_sample_value(NAME) == 0.0
        orders = OrderService(process.store.orders, {"110", "12345"})
        orders.create("110", {"to": "12345", "caller_number": "13800138000"})
        assert 0.0 < process.metrics.registry.get_sample_value(NAME) < 60.0
    finally:
        process.store.db.close()
