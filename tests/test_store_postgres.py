"""What only the PostgreSQL store has, or does its own way: the [store] url
setting and its refusals, an unreachable server at start-up, the translated
schema, the readiness probe's lock wait, two instances migrating one store at
once (on both databases), and the lab's server tooling."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from linkdesk.bridge.app.config import ConfigError, load_config
from linkdesk.bridge.app.lifecycle import EXIT_STORE, StartupError, build_process
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.lab import postgres
from linkdesk.bridge.lab.layout import LabError
from linkdesk.bridge.store.database import connect, open_store
from linkdesk.bridge.store.migrations import MIGRATIONS
from linkdesk.bridge.store.sql import StoreError
from polling import poll
from serving import run_serve
from stores import LAB_STATE


def _config(tmp_path, store: str, extra: str = ""):
    path = tmp_path / "linkdesk.toml"
    path.write_text(f'[pbx.110]\nsecret = "x"\n[agi]\nport = 0\n[http]\nport = 0\n[store]\n{store}\n{extra}')
    return str(path)


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("store, message", [
    ('url = "mysql://db.example/linkdesk"',
     "store.url: a PostgreSQL URL (postgresql:// or postgres://), like postgresql://USER@HOST[:PORT]/DBNAME"),
    ('url = "postgresql://db.example/linkdesk"\npath = "/tmp/x.db"',
     "store.url and store.path: give one (url: a PostgreSQL database; path: an SQLite file)"),
    ('url = "postgresql://db.example/linkdesk"\nsync = "full"',
     "store.sync is SQLite's setting; on PostgreSQL durability is the server's (synchronous_commit)"),
    ('url = "postgresql://db.example/linkdesk?colour=blue"',
     'store.url: not a PostgreSQL URL like postgresql://USER@HOST[:PORT]/DBNAME: '
     'invalid URI query parameter: "colour"'),
    ("url = 5432", "store.url: expected str, got 5432"),
])
def test_a_bad_store_url_is_refused_with_the_setting_named(tmp_path, store, message):
    with pytest.raises(ConfigError) as refused:
        load_config(_config(tmp_path, store), logins=False)
    assert str(refused.value) == message


def test_a_store_url_chooses_postgresql_and_no_path_means_the_sqlite_file(tmp_path):
    url = "postgresql://linkdesk@db.example:5433/linkdesk?passfile=/etc/linkdesk/pgpass"
    chosen = load_config(_config(tmp_path, f'url = "{url}"'), logins=False)
    assert (chosen.store, chosen.store_url) == (url, url)
    default = load_config(_config(tmp_path, 'retention_days = 30'), logins=False)
    assert (default.store, default.store_url) == ("/var/lib/linkdesk/linkdesk.db", None)


def test_an_unreachable_postgresql_at_start_up_is_one_startup_error_without_the_password(tmp_path):
    port = _closed_port()
    config = load_config(_config(tmp_path, f'url = "postgresql://linkdesk:s3cret@127.0.0.1:{port}/linkdesk"'),
                         env={})
    with pytest.raises(StartupError) as failed:
        build_process(config, event_loop())
    assert failed.value.code == EXIT_STORE == 4
    assert str(failed.value).startswith(f"cannot open the store postgresql://linkdesk:***@127.0.0.1:{port}/linkdesk: "
                                        f'connection failed: connection to server at "127.0.0.1", port {port} '
                                        "failed: Connection refused")
    assert "\n" not in str(failed.value) and "s3cret" not in str(failed.value)


def test_serve_with_an_unreachable_postgresql_exits_4_with_one_line(tmp_path):
    port = _closed_port()
    out = run_serve(_config(tmp_path, f'url = "postgresql://linkdesk@127.0.0.1:{port}/linkdesk"'))
    assert out.returncode == 4, out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"linkdesk: cannot open the store postgresql://linkdesk@127.0.0.1:{port}/linkdesk: connection failed:")


def test_postgresql_times_are_double_precision_and_keep_the_microsecond(postgres_store_at):
    store = open_store(postgres_store_at())
    types = dict(store.db.execute("SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_schema = current_schema() AND table_name = 'orders'").fetchall())
    assert {types[c] for c in ("created_at", "updated_at", "purged_at")} == {"double precision"}
    at = 1_750_000_000.123456
    with store.orders.transaction():
        store.orders.insert({"id": "WO-0123456789ab", "kind": "work", "from_platform": "110", "to_platform": "12345",
                             "caller_number": "1", "caller_withheld": True, "state": "created", "created_at": at})
    found = store.orders.get("WO-0123456789ab")
    assert (found["created_at"], found["caller_withheld"]) == (at, 1)
    assert "rowid" not in found, "PostgreSQL's stand-in for SQLite's rowid is never part of a row"


def test_the_readiness_probe_reports_a_store_locked_by_another_session_at_once(postgres_store_at):
    store = open_store(postgres_store_at())
    assert store.db.write_problem() is None
    with psycopg.connect(postgres_store_at(), autocommit=False) as other:
        other.execute("UPDATE schema_version SET version = version")      # holds the row's lock, uncommitted
        started = time.monotonic()
        problem = store.db.write_problem()
        waited = time.monotonic() - started
    assert problem is not None and "lock timeout" in problem
    assert waited < 1.0, f"the probe waited {waited:.2f} s"
    assert store.db.write_problem() is None


def test_two_instances_opening_a_new_store_at_once_migrate_it_once(store_at):
    where, versions, failed = store_at("shared.db"), [], []
    start = threading.Barrier(2)

    def instance():
        start.wait()
        try:
            store = open_store(where)
            versions.append(store.schema_version)
            store.db.close()        # in its own thread: an sqlite3 connection serves only the one that made it
        except Exception as exc:    # the failure is the finding: reported below
            failed.append(exc)

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert (failed, versions) == ([], [len(MIGRATIONS)] * 2)
    again = connect(where)
    try:
        assert again.schema_version() == len(MIGRATIONS)
        assert again.columns("conference_events")[-1] == "detail", "migration 4 ran, once"
    finally:
        again.close()


def test_the_lab_server_is_started_once_and_names_the_package_when_it_is_missing(postgres_server, tmp_path):
    assert postgres.start(postgres_server.cluster) == postgres_server, "a running cluster is returned as it is"
    with psycopg.connect(postgres_server.url()) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == (str(postgres_server.cluster),)
    with pytest.raises(LabError) as missing:
        postgres.server_binaries(tmp_path)
    assert str(missing.value) == (f"PostgreSQL's server is not installed (no {tmp_path}/*/bin/initdb): "
                                  "apt-get install postgresql")
    assert postgres.status(tmp_path) is None and postgres.stop(tmp_path) is False


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test's own, to crash and restart (under
    the lab's state directory: the server's user cannot reach a tmp_path)."""
    cluster = Path(tempfile.mkdtemp(prefix="pg-crash-", dir=LAB_STATE))
    try:
        # Durable: a crash must keep what was committed, as a site's server does.
        yield postgres.start(cluster, durable=True)
    finally:
        postgres.stop(cluster)
        shutil.rmtree(cluster, ignore_errors=True)


def _answers(db) -> bool:
    try:
        return db.execute("SELECT 1").fetchone()[0] == 1
    except StoreError:
        return False


def test_a_crashed_and_restarted_server_fails_the_statements_meanwhile_and_the_store_carries_on(own_server):
    store = open_store(own_server.url())
    store.orders.set_webhook("12345", "https://cases.example/hook", ["whsec_a"])
    postgres.crash(own_server)
    with pytest.raises(StoreError) as lost:
        store.orders.webhook("12345")
    assert lost.value.reason == "store-unavailable"
    assert store.db.write_problem() is not None, "not ready while the server is away"
    postgres.start(own_server.cluster, durable=True, port=own_server.port)
    poll(lambda: _answers(store.db), timeout=20)
    assert store.orders.webhook("12345")["url"] == "https://cases.example/hook", "what was committed is there"
    assert store.db.write_problem() is None
