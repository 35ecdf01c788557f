"""The systemd unit shipped in the package: `systemd-analyze verify` passes
on it as `linkdesk systemd-unit` prints it (ExecStart: this venv's
linkdesk), its hardening keeps the exposure low, and it asks for what
serve provides (Type=notify, the watchdog, a restart on failure)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from linkdesk.bridge.app.systemd_unit import shipped_unit, this_linkdesk, unit
from linkdesk.bridge.cli.main import main


def _analyze(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is missing: ./run installs Debian's systemd package (HOST_PACKAGES)",
                    pytrace=False)
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def _settings(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_systemd_analyze_verify_passes_on_the_printed_unit(tmp_path, capsys):
    assert main(["systemd-unit"]) == 0
    path = tmp_path / "linkdesk.service"
    path.write_text(capsys.readouterr().out)
    out = _analyze("verify", str(path))
    assert (out.returncode, out.stdout + out.stderr) == (0, "")


def test_verify_fails_on_a_unit_whose_linkdesk_is_not_there(tmp_path):
    path = tmp_path / "linkdesk.service"
    path.write_text(unit(str(tmp_path / "no-such-linkdesk")))
    out = _analyze("verify", str(path))
    assert out.returncode != 0 and "is not executable" in out.stderr


def test_the_hardening_keeps_the_exposure_at_most_2_of_10(tmp_path):
    path = tmp_path / "linkdesk.service"
    path.write_text(unit())
    out = _analyze("security", "--offline=true", "--threshold=20", str(path))   # 2.0 of 10
    assert out.returncode == 0, out.stdout[-600:]


def test_the_unit_asks_for_readiness_watchdog_restart_user_and_state_directory():
    settings = _settings(unit("/opt/linkdesk/bin/linkdesk", "/etc/linkdesk/site.toml"))
    assert settings["ExecStart"] == ["/opt/linkdesk/bin/linkdesk serve --config /etc/linkdesk/site.toml"]
    assert (settings["Type"], settings["NotifyAccess"], settings["Restart"]) == (["notify"], ["main"], ["on-failure"])
    assert settings["WatchdogSec"] == ["30"] and settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert (settings["User"], settings["StateDirectory"]) == (["linkdesk"], ["linkdesk"])
    assert settings["RestartPreventExitStatus"] == ["2"], "a configuration error is not restarted"
    assert int(settings["TimeoutStopSec"][0]) > 10, "longer than the default drain"


def test_the_unit_is_read_from_the_package_and_printed_with_this_linkdesk(capsys):
    assert "ExecStart=/usr/local/bin/linkdesk serve" in shipped_unit()
    assert main(["systemd-unit", "--config", "/srv/ld.toml"]) == 0
    assert f"ExecStart={this_linkdesk()} serve --config /srv/ld.toml\n" in capsys.readouterr().out
