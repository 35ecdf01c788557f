"""The store tests' two databases: a test that takes `store_at` runs once on
SQLite and once on PostgreSQL.

PostgreSQL is the project's own lab server (bridge/lab/postgres.py), started
once per session on a throw-away cluster under /var/lib/linkdesk and stopped
by pid at the end; each test gets fresh schemas of its own in it (a schema
costs a fraction of a millisecond, a database 40 ms). It never skips: when
PostgreSQL cannot start, every PostgreSQL run fails and says why."""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from linkdesk.bridge.lab import postgres
from linkdesk.bridge.lab.layout import LabError

LAB_STATE = Path("/var/lib/linkdesk")
TEST_DATABASE = "linkdesk_tests"


@pytest.fixture(scope="session")
def postgres_server():
    """This session's PostgreSQL server, with an empty database for the tests."""
    try:
        LAB_STATE.mkdir(parents=True, exist_ok=True)
        cluster = Path(tempfile.mkdtemp(prefix="pg-tests-", dir=LAB_STATE))
    except OSError as exc:
        pytest.fail(f"no directory for the tests' PostgreSQL under {LAB_STATE}: {exc}", pytrace=False)
    try:
        server = postgres.start(cluster, durable=False)
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {TEST_DATABASE}")
        yield server
    except LabError as exc:
        pytest.fail(f"PostgreSQL for the store tests did not start: {exc}", pytrace=False)
    finally:
        postgres.stop(cluster)
        shutil.rmtree(cluster, ignore_errors=True)


class StoreLocations:
    """`store_at(name)`: where this test's store `name` lives, a file in the
    test's tmp_path or a schema of its own on the session's PostgreSQL; the
    same name gives the same store."""

    def __init__(self, backend: str, tmp_path: Path, server: postgres.PostgresServer | None):
        self.backend, self.tmp_path, self.server = backend, tmp_path, server
        self.schemas: dict[str, str] = {}

    def __call__(self, name: str = "store.db") -> str | Path:
        if self.server is None:
            return self.tmp_path / name
        if name not in self.schemas:
            schema = f"t_{uuid.uuid4().hex[:12]}_{re.sub(r'[^a-z0-9]', '_', name.lower())}"
            self._admin(f"CREATE SCHEMA {schema}")
            self.schemas[name] = schema
        schema = self.schemas[name]
        # application_name tags the test's sessions, for the teardown to end them.
        return self.server.url(TEST_DATABASE) + f"?options=-csearch_path%3D{schema}&application_name={schema}"

    def store_setting(self, name: str = "store.db") -> str:
        """The [store] line that points a config at store `name`."""
        key = "path" if self.server is None else "url"
        return f'{key} = "{self(name)}"'

    def close(self) -> None:
        """End the sessions the test left open, and drop its schemas."""
        for schema in self.schemas.values():
            self._admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{schema}'")
            self._admin(f"DROP SCHEMA {schema} CASCADE")

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.server.url(TEST_DATABASE), autocommit=True) as admin:
            admin.execute(sql)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request, tmp_path):
    """Where a test's stores live, on SQLite and then on PostgreSQL."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    yield from _locations(request.param, tmp_path, server)


@pytest.fixture
def postgres_store_at(tmp_path, postgres_server):
    """`store_at` for a test of what only PostgreSQL has."""
    yield from _locations("postgresql", tmp_path, postgres_server)


def _locations(backend: str, tmp_path: Path, server: postgres.PostgresServer | None):
    locations = StoreLocations(backend, tmp_path, server)
    yield locations
    if server is not None:
        locations.close()
