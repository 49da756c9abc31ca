"""Root never runs a config another user could have written without saying so (issue
21.11): found without -c (./supervisord_lite.toml) it is refused, named with -c or
included it is loaded with a warning. The files are written by `nobody`, as an
attacker on the same host would."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from integration.harness import CTL_CMD, DAEMON_CMD

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="the rule protects a daemon run as root"),
]

NOBODY = 65534


def config_text(marker: Path) -> str:
    # What an attacker would plant: a program that runs as root.
    return (
        '[supervisord]\nsocket = "sdl.sock"\npidfile = "sdl.pid"\nlogfile = "sdl.log"\n'
        f'[programs.evil]\ncommand = ["touch", "{marker}"]\nstartsecs = 0\n'
        "autorestart = false\n"
    )


def write_as_nobody(path: Path, text: str) -> None:
    subprocess.run(
        ["sh", "-c", 'cat > "$1"', "sh", str(path)],
        input=text,
        text=True,
        user="nobody",
        check=True,
        timeout=10,
    )


def run(cmd: list[str], daemon, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=daemon.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def nobodys_dir(daemon) -> Path:
    """A directory `nobody` owns, inside the test's own (opened for it to reach)."""
    daemon.dir.chmod(0o755)
    where = daemon.path("home")
    where.mkdir()
    os.chown(where, NOBODY, NOBODY)
    return where


def test_a_config_planted_in_the_current_directory_is_refused(daemon, nobodys_dir):
    marker = daemon.path("pwned")
    planted = nobodys_dir / "supervisord_lite.toml"
    write_as_nobody(planted, config_text(marker))

    res = run([*DAEMON_CMD], daemon, nobodys_dir)
    assert res.returncode == 2, res
    assert "./supervisord_lite.toml: refusing to use this config" in res.stderr, res.stderr
    assert "owned by nobody" in res.stderr and "-c" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert not marker.exists()
    assert not (nobodys_dir / "sdl.pid").exists()

    res = run([*DAEMON_CMD, "--check"], daemon, nobodys_dir)
    assert res.returncode == 2 and "refusing" in res.stderr, res

    # The ctl reads the same file for its socket: refused alike, never "start the daemon".
    res = run([*CTL_CMD, "status"], daemon, nobodys_dir)
    assert res.returncode == 2 and "refusing to use this config" in res.stderr, res


def test_a_root_file_in_a_directory_others_can_write_is_refused(daemon, nobodys_dir):
    """nobody cannot edit root's file, but can rename it away and put their own."""
    marker = daemon.path("pwned")
    config = nobodys_dir / "supervisord_lite.toml"
    config.write_text(config_text(marker))  # written by root, 0644
    res = run([*DAEMON_CMD, "--check"], daemon, nobodys_dir)
    assert res.returncode == 2, res
    assert f"its directory {nobodys_dir} is owned by nobody" in res.stderr, res.stderr


def test_a_world_writable_config_is_refused(daemon):
    marker = daemon.path("pwned")
    here = daemon.path("here")
    here.mkdir(mode=0o755)
    config = here / "supervisord_lite.toml"
    config.write_text(config_text(marker))
    config.chmod(0o666)
    res = run([*DAEMON_CMD, "--check"], daemon, here)
    assert res.returncode == 2, res
    assert "is writable by others (mode 0666)" in res.stderr, res.stderr
    config.chmod(0o644)
    res = run([*DAEMON_CMD, "--check"], daemon, here)
    assert res.returncode == 0 and "config OK: 1 programs" in res.stdout, res
    assert "warning" not in res.stderr, res.stderr


def test_an_explicit_config_others_can_write_is_loaded_with_a_warning(daemon, nobodys_dir):
    """-c is the admin's own choice: supervisord warns, so do we, at --check and at
    launch, and --check --json lists it."""
    marker = daemon.path("ran")
    config = nobodys_dir / "app.toml"
    write_as_nobody(config, config_text(marker))
    warning = f"{config}: {config} is owned by nobody (uid {NOBODY}), not root"

    res = run([*DAEMON_CMD, "-c", str(config), "--check"], daemon, daemon.dir)
    assert res.returncode == 0, res
    assert f"warning: {warning}" in res.stderr, res.stderr

    res = run([*DAEMON_CMD, "-c", str(config), "--check", "--json"], daemon, daemon.dir)
    report = json.loads(res.stdout)
    assert res.returncode == 0 and report["ok"], res
    assert any(w.startswith(warning) for w in report["warnings"]), report["warnings"]

    daemon.config = config
    daemon.socket = nobodys_dir / "sdl.sock"
    daemon.pidfile = nobodys_dir / "sdl.pid"
    res = daemon.launch()
    assert res.returncode == 0, daemon.describe(res)
    assert f"warning: {warning}" in res.stderr, res.stderr
    daemon.wait_until(marker.exists, 10)
    daemon.ctl_ok("shutdown")


def test_an_include_others_can_write_is_named_in_a_warning(daemon, nobodys_dir):
    daemon.write_config(
        {"ok": {"command": ["sleep", "60"]}},
        {"include": [f"{nobodys_dir}/*.toml"]},
    )
    extra = nobodys_dir / "extra.toml"
    write_as_nobody(extra, '[programs.more]\ncommand = ["sleep", "60"]\n')
    res = run([*DAEMON_CMD, "-c", str(daemon.config), "--check"], daemon, daemon.dir)
    assert res.returncode == 0, res
    assert f"warning: {extra}: {extra} is owned by nobody" in res.stderr, res.stderr
    assert f"warning: {daemon.config}:" not in res.stderr, res.stderr


def test_a_root_owned_config_in_the_current_directory_is_used_quietly(daemon):
    """The test's own temp dir is root's and 0700, under the sticky /tmp."""
    daemon.write_config({"web": {"command": ["sleep", "60"]}})
    daemon.config.rename(daemon.path("supervisord_lite.toml"))
    res = run([*DAEMON_CMD, "--check"], daemon, daemon.dir)
    assert res.returncode == 0 and "config OK: 1 programs" in res.stdout, res
    assert res.stderr == "", res.stderr
