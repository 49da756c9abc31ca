"""supervisorctl's habits (SPEC §6): avail, clear, maintail, reload --dry-run, through
the real daemon."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time

import pytest

from integration.harness import CTL_CMD, helper

pytestmark = pytest.mark.timeout(40)


def sleeper(**extra) -> dict:
    return {"command": ["sleep", "300"], "startsecs": 0, **extra}


def writer(count: int, width: int = 100, **extra) -> dict:
    """Writes `count` lines of `width` bytes, then stays RUNNING."""
    command = helper("seqwriter", "--count", count, "--width", width, "--stay")
    return {"command": command, "startsecs": 0, **extra}


@contextlib.contextmanager
def streaming_ctl(daemon, *args):
    """A ctl command left running, its stdout read as it comes (read_until)."""
    proc = subprocess.Popen(
        [*CTL_CMD, "-c", str(daemon.config), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=daemon.env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def read_until(proc, text: str, seen: bytearray, timeout: float = 10.0) -> str:
    """Read proc's stdout into `seen` until it holds `text`; the whole output so far."""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} within {timeout}s; output so far: {bytes(seen)!r}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"the ctl ended before {text!r}; output: {bytes(seen)!r}"
            seen += chunk
    return seen.decode(errors="replace")


# -- avail ---------------------------------------------------------------------------


def test_avail_lists_every_process_in_use_or_not(daemon):
    daemon.start(
        {
            "web": sleeper(priority=5, numprocs=2),
            "cron": sleeper(autostart=False),
        }
    )
    daemon.wait_state("web:1", "RUNNING")
    items = json.loads(daemon.ctl_ok("avail", "--json").stdout)
    by_name = {item["name"]: item for item in items}
    assert set(by_name) == {"web:0", "web:1", "cron"}
    assert by_name["web:0"]["in_use"] and by_name["web:0"]["autostart"]
    assert by_name["web:0"]["priority"] == 5 and by_name["web:0"]["program"] == "web"
    assert not by_name["cron"]["in_use"] and not by_name["cron"]["autostart"]

    lines = daemon.ctl_ok("avail").stdout.splitlines()
    cron = next(line for line in lines if line.startswith("cron "))
    assert cron.split() == ["cron", "avail", "manual", "999:999"]
    web = next(line for line in lines if line.startswith("web:0 "))
    assert web.split() == ["web:0", "in", "use", "auto", "5:5"]


def test_avail_shows_groups_as_supervisorctl_does(daemon):
    daemon.start({"q": sleeper(numprocs=2, process_name="q_{process_num:02d}", priority=7)})
    config = daemon.config.read_text() + '\n[groups.workers]\nprograms = ["q"]\npriority = 3\n'
    daemon.config.write_text(config)
    daemon.ctl_ok("reload")
    items = {item["name"]: item for item in json.loads(daemon.ctl_ok("avail", "--json").stdout)}
    assert set(items) == {"workers:q_00", "workers:q_01"}
    assert items["workers:q_00"]["group"] == "workers"
    line = daemon.ctl_ok("avail").stdout.splitlines()[0]
    assert line.split() == ["workers:q_00", "in", "use", "auto", "3:7"]


# -- clear ---------------------------------------------------------------------------


def test_clear_empties_the_current_logs_and_leaves_backups(daemon):
    daemon.start({"w": writer(20, stderr_logfile="none")})
    log = daemon.log_path("w")
    daemon.wait_until(lambda: log.exists() and log.stat().st_size == 20 * 100)
    backup = log.with_name(log.name + ".1")
    backup.write_text("an older rotation\n")

    res = daemon.ctl_ok("clear", "w")
    assert res.stdout.strip() == "w: cleared"
    assert log.stat().st_size == 0
    assert backup.read_text() == "an older rotation\n"


def test_clear_keeps_the_rotation_count_true(daemon):
    # 30 lines of 100 bytes per run; rotation at 4000. Cleared after the first run, the
    # second run's 3000 bytes fit: no rotation. Counting the cleared bytes too would
    # rotate the file 1000 bytes into the second run.
    daemon.start({"w": writer(30, stdout_logfile_maxbytes=4000, stderr_logfile="none")})
    log = daemon.log_path("w")
    daemon.wait_until(lambda: log.exists() and log.stat().st_size == 3000)
    daemon.ctl_ok("clear", "w")
    daemon.ctl_ok("restart", "w")
    daemon.wait_until(lambda: log.stat().st_size >= 3000)
    assert not log.with_name(log.name + ".1").exists(), "rotated early: size miscounted"
    assert log.stat().st_size == 3000
    assert log.read_text().startswith("seq 0000001 ")


def test_clear_while_the_process_writes_leaves_no_hole(daemon):
    command = helper("seqwriter", "--interval", "0.002", "--width", "50")
    daemon.start({"w": {"command": command, "startsecs": 0}})
    log = daemon.log_path("w")
    daemon.wait_until(lambda: log.exists() and log.stat().st_size > 5000)
    daemon.ctl_ok("clear", "w")
    daemon.wait_until(lambda: log.stat().st_size > 500)
    data = log.read_bytes()
    assert b"\0" not in data, "bytes after the clear landed past the file's new end"
    assert int(data.split(b"\n")[1].split()[1]) > 100  # the new lines, not the old ones


def test_clear_leaves_streams_alone_and_says_so(daemon):
    daemon.start(
        {
            "s": sleeper(stdout_logfile="/dev/stdout"),
            "quiet": sleeper(stdout_logfile="none", stderr_logfile="none"),
        }
    )
    res = daemon.ctl_ok("clear", "s", "quiet")
    out = dict(line.split(": ", 1) for line in res.stdout.splitlines())
    assert "/dev/stdout is not a regular file" in out["s"] and "left alone" in out["s"]
    assert out["s"].startswith("cleared")  # its stderr file was emptied
    assert out["quiet"] == 'nothing to clear: its logs are "none"'


def test_clear_of_an_unknown_name_fails(daemon):
    daemon.start({"a": sleeper()})
    res = daemon.ctl("clear", "a", "nope")
    assert res.returncode == 1, daemon.describe(res)
    assert "a: cleared" in res.stdout and "nope: ERROR (no such process)" in res.stdout


# -- maintail ------------------------------------------------------------------------


def test_maintail_prints_the_daemons_last_lines(daemon):
    daemon.start({"a": sleeper()})
    res = daemon.ctl_ok("maintail", "-n", "3")
    assert len(res.stdout.splitlines()) == 3
    assert res.stdout.splitlines() == daemon.logfile.read_text().splitlines()[-3:]
    whole = daemon.ctl_ok("maintail", "-n", "1000").stdout
    assert "started with pid" in whole
    assert json.loads(daemon.ctl_ok("maintail", "--json").stdout)["path"] == str(daemon.logfile)


def test_maintail_follows_across_a_reopen(daemon):
    daemon.start({"a": sleeper(), "b": sleeper(autostart=False)})
    seen = bytearray()
    with streaming_ctl(daemon, "maintail", "-f", "-n", "1") as proc:
        read_until(proc, "\n", seen)  # following now
        daemon.ctl_ok("start", "b")
        read_until(proc, "spawned: 'b'", seen)
        daemon.logfile.rename(daemon.logfile.with_name("sdl.log.1"))
        os.kill(daemon.pid, signal.SIGUSR2)
        daemon.wait_until(daemon.logfile.exists)
        daemon.ctl_ok("stop", "b")
        text = read_until(proc, "stopped: b", seen)
        assert "reopened the log file" in text
        assert proc.poll() is None


def test_maintail_without_a_daemon_log_says_so(daemon):
    daemon.start({"a": sleeper()}, logfile="none")
    res = daemon.ctl("maintail")
    assert res.returncode == 1, daemon.describe(res)
    assert 'logfile = "none"' in res.stderr and "Traceback" not in res.stderr


# -- reload --dry-run ----------------------------------------------------------------


def test_reload_dry_run_prints_the_diff_and_applies_nothing(daemon):
    daemon.start({"keep": sleeper(), "edit": sleeper(), "gone": sleeper()})
    before = {name: obj["pid"] for name, obj in daemon.status().items()}
    daemon.write_config(
        {
            "keep": sleeper(),
            "edit": sleeper(startsecs=2, environment={"X": "1"}),
            "new": sleeper(),
        }
    )
    result = json.loads(daemon.ctl_ok("reload", "--dry-run", "--json").stdout)
    assert result == {
        "added": ["new"],
        "changed": ["edit"],
        "scaled": [],
        "removed": ["gone"],
        "keys": {"edit": ["environment", "startsecs"]},
        "dry_run": True,
    }
    text = daemon.ctl_ok("reload", "--dry-run").stdout.splitlines()
    assert text == [
        "added: new",
        "changed: edit (environment, startsecs)",
        "removed: gone",
        "(dry run: nothing applied)",
    ]
    after = {name: obj["pid"] for name, obj in daemon.status().items()}
    assert after == before, "a dry run changed what runs"


def test_reload_dry_run_of_a_bad_config_prints_its_errors(daemon):
    daemon.start({"a": sleeper()})
    daemon.write_config({"a": sleeper(startsecs="x"), "c": {"startsecs": 1}})
    res = daemon.ctl("reload", "--dry-run")
    assert res.returncode == 1, daemon.describe(res)
    assert "programs.a.startsecs" in res.stderr and "programs.c.command" in res.stderr
    assert "Traceback" not in res.stderr
