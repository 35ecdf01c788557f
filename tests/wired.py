"""The process `serve` builds, from test_wiring's config (links never
started: both PBXs' AMI down), for the tests of the HTTP surface."""

from __future__ import annotations

import pytest

from linkdesk.bridge.app.config import load_config
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.wiring import build
from test_wiring import CONFIG


@pytest.fixture
def process(tmp_path):
    path = tmp_path / "linkdesk.toml"
    path.write_text(CONFIG.format(store=tmp_path / "linkdesk.db"))
    built = build(load_config(str(path), env={}), event_loop())
    yield built
    built.stop()
    built.store.db.conn.close()
