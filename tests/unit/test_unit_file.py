"""The shipped systemd unit: rendered from one template, required settings, systemd-analyze."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from supervisord_lite.systemd import unit
from supervisord_lite.systemd.notifier import watchdog_interval

pytestmark = pytest.mark.timeout(30)

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "supervisord-lite.service"
SHIPPED_DAEMON = "/usr/local/bin/supervisord-lite"


def settings(text: str) -> dict[str, list[str]]:
    """Key -> values, comments and section headers ignored."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key, []).append(value)
    return out


def test_shipped_unit_is_the_template():
    assert unit.render(unit.DEFAULT_CONFIG, [SHIPPED_DAEMON]) == SHIPPED.read_text()


def test_required_settings():
    s = settings(SHIPPED.read_text())
    assert s["Type"] == ["notify"]
    assert s["ExecStart"] == [f"{SHIPPED_DAEMON} -n -c /etc/supervisord_lite.toml"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["KillMode"] == ["mixed"]
    assert s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"]
    assert s["OOMPolicy"] == ["continue"]
    assert s["Delegate"] == ["yes"]  # programs in cgroups of their own (linux/cgroups.py)
    assert int(s["TimeoutStopSec"][0]) >= 60  # several layers of stopwaitsecs
    assert s["WantedBy"] == ["multi-user.target"]


def test_no_sandboxing_that_breaks_arbitrary_programs():
    s = settings(SHIPPED.read_text())
    for key in (
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateUsers",
        "PrivateDevices",
        "NoNewPrivileges",
        "MemoryDenyWriteExecute",
        "SystemCallFilter",
        "ProtectClock",
        "DynamicUser",
    ):
        assert key not in s, key


def test_paths_are_quoted_as_systemd_reads_them():
    text = unit.render("/srv/my conf/100%.toml", ["/opt/sd lite/bin/supervisord-lite"])
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_start == (
        'ExecStart="/opt/sd lite/bin/supervisord-lite" -n -c "/srv/my conf/100%%.toml"'
    )
    text = unit.render("/etc/x$y.toml", ["/usr/bin/supervisord-lite"])
    assert "-c /etc/x$$y.toml\n" in text


def test_config_path():
    assert unit.config_path(None) == "/etc/supervisord_lite.toml"
    assert unit.config_path("/a/b.toml") == "/a/b.toml"
    assert unit.config_path("b.toml") == os.path.join(os.getcwd(), "b.toml")


def test_daemon_command_is_absolute():
    command = unit.daemon_command()
    assert os.path.isabs(command[0])
    if len(command) > 1:
        assert command[1:] == ["-m", "supervisord_lite"]


def test_watchdog_interval():
    me = str(os.getpid())
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "200000"}) == 0.2
    assert watchdog_interval({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": me}) == 0.2
    assert watchdog_interval({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "x"}) is None


SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or (
    "/usr/bin/systemd-analyze" if os.path.exists("/usr/bin/systemd-analyze") else None
)


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify():
    # verify checks that ExecStart's binary exists: point it at one that does.
    daemon = str(Path(sys.executable).parent / "supervisord-lite")
    if not os.access(daemon, os.X_OK):
        daemon = sys.executable
    text = SHIPPED.read_text().replace(SHIPPED_DAEMON, daemon)
    directory = tempfile.mkdtemp(prefix="sdl-", dir="/tmp")
    try:
        path = os.path.join(directory, "supervisord-lite.service")
        with open(path, "w") as f:
            f.write(text)
        res = subprocess.run(
            [SYSTEMD_ANALYZE, "verify", path], capture_output=True, text=True, timeout=25
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    output = res.stdout + res.stderr
    assert res.returncode == 0, output
    # Unknown keys and bad values are only warnings (exit 0): none may mention the unit.
    assert "supervisord-lite.service" not in output, output
