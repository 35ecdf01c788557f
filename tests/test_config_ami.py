"""[ami]: the login and reconnect backoff from the config file, and bad values refused by name."""

from __future__ import annotations

import pytest

from linkdesk.ami.connection import AmiTiming
from linkdesk.bridge.app.config import ConfigError, load_config

PBX = '[pbx.110]\nsecret = "x"\n'


def _load(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text + PBX)
    return load_config(str(path), env={})


def test_without_an_ami_table_logins_back_off_to_five_minutes(tmp_path):
    timing = _load(tmp_path, "").ami
    assert (timing.backoff_initial, timing.backoff_cap, timing.backoff_jitter) == (0.25, 300.0, 0.5)


def test_the_backoff_comes_from_the_file(tmp_path):
    timing = _load(tmp_path, "[ami]\nbackoff_initial = 1\nbackoff_cap = 600\nbackoff_jitter = 0.2\n").ami
    assert timing == AmiTiming(backoff_initial=1.0, backoff_cap=600.0, backoff_jitter=0.2)


@pytest.mark.parametrize("text, message", [
    ("[ami]\nbackoff_cap = 0\n", "ami: backoff_initial and backoff_cap"),
    ("[ami]\nbackoff_initial = 10\nbackoff_cap = 5\n", "backoff_initial ≤ backoff_cap"),
    ("[ami]\nbackoff_jitter = 1\n", "ami.backoff_jitter"),
    ('[ami]\nbackoff_cap = "long"\n', "ami.backoff_cap: expected int or float"),
    ("[ami]\nretry = 3\n", "ami: unknown setting"),
])
def test_bad_backoff_settings_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)
