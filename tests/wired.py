"""The process `serve` builds, from the wiring tests' config (links never
started: both PBXs' AMI down), for the tests of the HTTP surface."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from linkdesk.bridge.app.config import load_config
from linkdesk.bridge.app.reactor import event_loop
from linkdesk.bridge.app.wiring import build


TOKENS = {"110": "token-of-110", "12345": "token-of-12345"}
CONFIG = """
[store]
path = "{store}"

[pbx.110]
secret = "secret-110"
ami_port = 1                      # the links are never started here

[pbx.110.transfer]
targets = {{ "12345" = "12345" }}

[pbx.12345]
secret = "secret-12345"

[pbx.12345.transfer]
targets = {{ "110" = "110" }}

[tokens]
"110" = "token-of-110"
"12345" = "token-of-12345"
"""


@contextmanager
def process_from(tmp_path, config: str):
    """The process built from `config` (its `{store}` filled in with one in tmp_path), stopped after."""
    path = tmp_path / "linkdesk.toml"
    path.write_text(config.format(store=tmp_path / "linkdesk.db"))
    built = build(load_config(str(path), env={}), event_loop())
    try:
        yield built
    finally:
        built.stop()
        built.store.db.close()


@pytest.fixture
def process(tmp_path):
    with process_from(tmp_path, CONFIG) as built:
        yield built
