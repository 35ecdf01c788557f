"""Config layering (defaults < file < environment < command line) and secrets."""

from __future__ import annotations

import pytest

from linkdesk.ami.connection import AmiEndpoint
from linkdesk.bridge.app.config import ConfigError, load_config

CONFIG = """
[http]
port = 9000

[pbx.110]
ami_port = 5138
username = "linkdesk"
secret = "from-file"
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "linkdesk.toml"
    path.write_text(CONFIG)
    return path


def test_file_overrides_defaults(config_file):
    config = load_config(str(config_file), env={})
    assert (config.http.host, config.http.port) == ("127.0.0.1", 9000)
    assert config.pbxs == (AmiEndpoint("110", "127.0.0.1", 5138, "linkdesk", "from-file"),)


def test_environment_overrides_file_and_command_line_overrides_both(config_file):
    env = {"LINKDESK_HTTP_PORT": "9100", "LINKDESK_PBX_110_SECRET": "from-env"}
    assert load_config(str(config_file), env=env).http.port == 9100
    assert load_config(str(config_file), env=env).pbxs[0].secret == "from-env"
    assert load_config(str(config_file), env=env, http_port=9200).http.port == 9200


def test_secret_file_is_read_and_secrets_never_show_in_a_repr(tmp_path):
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret-value\n")
    path = tmp_path / "c.toml"
    path.write_text(f'[pbx.12345]\nsecret_file = "{secret}"\n')
    endpoint = load_config(str(path), env={}).pbxs[0]
    assert endpoint.secret == "s3cret-value"
    assert "s3cret-value" not in repr(endpoint) and "s3cret-value" not in repr(load_config(str(path), env={}))


@pytest.mark.parametrize("text, message", [
    ("[pbx.110]\nami_port = 1\n", "no AMI secret"),
    ("[pbx.110]\nsecret = 'x'\nami_port = 'five'\n", r"pbx.110.ami_port: expected int"),
    ("[pbx.110]\nsecret = 'x'\nport = 1\n", "unknown setting"),
    ("[http]\nport = true\n[pbx.1]\nsecret='x'\n", "http.port: expected int"),
    ("[http\n", "not valid TOML"),
    ("", "no PBX configured"),
    ("[store]\nsync = 'sometimes'\n[pbx.1]\nsecret='x'\n", "store.sync: expected"),
    ("[units.gas]\nname = 'Gas'\nnumber = '19 01'\n[pbx.1]\nsecret='x'\n", "units.gas.number"),
])
def test_bad_config_names_the_setting(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(path), env={})


def test_store_sync_setting_reaches_sqlite(tmp_path):
    from linkdesk.bridge.store.database import open_store

    path = tmp_path / "c.toml"
    path.write_text(f'[store]\npath = "{tmp_path}/l.db"\nsync = "full"\n[pbx.1]\nsecret = "x"\n')
    config = load_config(str(path), env={})
    assert (config.store_path, config.store_sync) == (f"{tmp_path}/l.db", "full")
    full, default = open_store(config.store_path, sync=config.store_sync), open_store(tmp_path / "d.db")
    assert full.db.execute("PRAGMA synchronous").fetchone() == (2,)
    assert default.db.execute("PRAGMA synchronous").fetchone() == (1,)


def test_the_linkage_unit_directory_comes_from_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[units.fire]\nname = "Fire 119"\nnumber = "119"\ncategory = "fire"\n[pbx.1]\nsecret = "x"\n')
    unit = load_config(str(path), env={}).units["fire"]
    assert (unit.name, unit.number, unit.category, unit.dial) == ("Fire 119", "119", "fire", "PJSIP/119")


def test_bad_port_in_environment_is_named():
    with pytest.raises(ConfigError, match="LINKDESK_HTTP_PORT"):
        load_config(None, env={"LINKDESK_HTTP_PORT": "x"}, base={"pbx": {"110": {"secret": "s"}}})


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "nope.toml"), env={})


def test_agi_limits_come_from_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[agi]\nport = 4600\ncommand_timeout = 3\nmax_sessions = 20\n'
                    'allowed_peers = ["127.0.0.1"]\n[pbx.110]\nsecret = "x"\n')
    agi = load_config(str(path), env={}).agi
    assert (agi.host, agi.port) == ("127.0.0.1", 4600)
    assert agi.limits.command_timeout == 3.0 and agi.limits.max_sessions == 20
    assert agi.limits.allowed_peers == frozenset({"127.0.0.1"})
    assert agi.limits.idle_timeout == 10.0


@pytest.mark.parametrize("text, message", [
    ('[agi]\nallowed_peers = [1]\n', "agi.allowed_peers"),
    ('[agi]\nmax_sessions = "many"\n', "agi.max_sessions: expected int"),
    ('[agi]\ncommand_timeout = "soon"\n', "agi.command_timeout: expected int or float"),
])
def test_bad_agi_settings_are_named(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text + '[pbx.110]\nsecret = "x"\n')
    with pytest.raises(ConfigError, match=message):
        load_config(str(path), env={})
