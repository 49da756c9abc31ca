"""Logs that lose nothing (SPEC §1, §2): rotation, tail -f, SIGUSR2 reopen, redirect_stderr."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from integration.harness import CTL_CMD, helper

pytestmark = pytest.mark.timeout(60)


def expected_lines(n: int, width: int = 40, prefix: str = "seq") -> bytes:
    out = []
    for i in range(1, n + 1):
        head = f"{prefix} {i:07d} "
        out.append(head + "x" * (width - len(head) - 1) + "\n")
    return "".join(out).encode()


def chain(path: Path) -> bytes:
    """The rotated files oldest first, then the live one, concatenated."""
    backups = sorted(
        (p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: -int(p.suffix[1:]),
    )
    return b"".join(p.read_bytes() for p in [*backups, path] if p.exists())


def assert_same_bytes(got: bytes, want: bytes, what: str) -> None:
    """got == want, or where they part: pytest's own diff of two near-equal megabytes
    runs for minutes (a lost byte showed up as a timeout)."""
    if got == want:
        return
    at = len(os.path.commonprefix([got, want]))
    raise AssertionError(
        f"{what}: {len(got)} bytes, {len(want)} expected; they part at byte {at}:"
        f" {got[max(0, at - 60) : at + 60]!r} against {want[max(0, at - 60) : at + 60]!r}"
    )


def test_every_byte_survives_many_rotations(daemon):
    n = 20_000  # 800 KB through a 16 KiB file: ~50 rotations
    daemon.start(
        {
            "w": {
                "command": helper("seqwriter", "--count", n, "--stderr"),
                "startsecs": 0,
                "autorestart": False,
                "stdout_logfile_maxbytes": "16KB",
                "stdout_logfile_backups": 200,
                "stderr_logfile_maxbytes": 10_000,
                "stderr_logfile_backups": 200,
            }
        }
    )
    daemon.wait_state("w", "EXITED", timeout=30)
    out, err = daemon.log_path("w"), daemon.log_path("w", "stderr")
    assert_same_bytes(chain(out), expected_lines(n), "the stdout chain")
    assert_same_bytes(chain(err), expected_lines(n, prefix="err"), "the stderr chain")
    # Rotation happens at the exact byte boundary.
    assert os.path.getsize(f"{out}.1") == 16 * 1024
    assert os.path.getsize(f"{err}.1") == 10_000
    assert len(list(out.parent.glob("w.stdout.log.*"))) >= 40


def test_backups_keep_only_n_and_zero_backups_truncates(daemon):
    n = 5_000
    daemon.start(
        {
            "three": {
                "command": helper("seqwriter", "--count", n),
                "startsecs": 0,
                "autorestart": False,
                "stdout_logfile_maxbytes": 4000,
                "stdout_logfile_backups": 3,
            },
            "zero": {
                "command": helper("seqwriter", "--count", n),
                "startsecs": 0,
                "autorestart": False,
                "stdout_logfile_maxbytes": 4000,
                "stdout_logfile_backups": 0,
            },
        }
    )
    daemon.wait_state("three", "EXITED", timeout=30)
    daemon.wait_state("zero", "EXITED", timeout=30)
    three = daemon.log_path("three")
    names = sorted(p.name for p in three.parent.glob("three.stdout.log*"))
    assert names == ["three.stdout.log", *(f"three.stdout.log.{i}" for i in (1, 2, 3))]
    # What is kept is the newest output, contiguous, ending with the last line.
    assert expected_lines(n).endswith(chain(three))
    zero = daemon.log_path("zero")
    assert not list(zero.parent.glob("zero.stdout.log.*"))
    assert 0 < zero.stat().st_size <= 4000
    assert expected_lines(n).endswith(zero.read_bytes())


def test_tail_f_follows_across_rotation(daemon):
    daemon.start(
        {
            "w": {
                "command": helper("seqwriter", "--interval", 0.002),
                "startsecs": 0,
                "stdout_logfile_maxbytes": 2000,
                "stdout_logfile_backups": 2,
            }
        }
    )
    daemon.wait_state("w", "RUNNING")
    follower = subprocess.Popen(
        [*CTL_CMD, "-c", str(daemon.config), "tail", "-f", "-n", "1", "w"],
        stdout=subprocess.PIPE,
        env=daemon.env,
    )
    try:
        got = b""
        deadline = time.monotonic() + 20
        while got.count(b"\n") < 400 and time.monotonic() < deadline:
            got += follower.stdout.read1(65536)
    finally:
        follower.kill()
        follower.wait()
    lines = got.decode().splitlines()[:-1]  # the last one may be cut mid-line
    numbers = [int(line.split()[1]) for line in lines]
    assert len(numbers) >= 300, "tail -f produced too little (40 rotations expected)"
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "gap or repeat"


def test_stalled_tail_reader_is_dropped_and_the_daemon_stays_responsive(daemon):
    daemon.start(
        {
            "flood": {
                "command": helper("seqwriter", "--width", 200),
                "startsecs": 0,
                "stdout_logfile_maxbytes": "20MB",
                "stdout_logfile_backups": 1,
            },
            "other": {"command": ["sleep", "300"], "startsecs": 0},
        }
    )
    daemon.wait_state("flood", "RUNNING")
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(str(daemon.socket))
    try:
        stalled.sendall(b'{"id": 1, "cmd": "tail", "args": {"name": "flood", "follow": true}}\n')
        deadline = time.monotonic() + 30
        dropped = False
        while not dropped and time.monotonic() < deadline:
            t0 = time.monotonic()
            assert daemon.ctl_ok("stop", "other").returncode == 0
            assert daemon.ctl_ok("start", "other").returncode == 0
            assert time.monotonic() - t0 < 5, "ctl stalled behind a stalled tail reader"
            dropped = "too slow" in daemon.logfile.read_text()
        assert dropped, "the stalled tail reader was never dropped"
        rss = int(Path(f"/proc/{daemon.pid}/status").read_text().split("VmRSS:")[1].split()[0])
        assert rss < 200_000, f"daemon RSS grew to {rss} kB"
    finally:
        stalled.close()


def test_sigusr2_reopens_after_an_external_rename(daemon):
    daemon.start({"w": {"command": helper("seqwriter", "--interval", 0.005), "startsecs": 0}})
    log = daemon.log_path("w")
    daemon.wait_until(lambda: log.exists() and log.stat().st_size > 400, 10)
    moved = log.with_name("w.stdout.log.rotated")
    os.rename(log, moved)  # what logrotate does (with `create` or not)
    os.kill(daemon.pid, signal.SIGUSR2)
    daemon.wait_until(lambda: log.exists() and log.stat().st_size > 400, 10)
    daemon.ctl_ok("stop", "w")
    data = moved.read_bytes() + log.read_bytes()
    n = data.count(b"\n")
    assert_same_bytes(data, expected_lines(n), "across the reopen")


def test_redirect_stderr_goes_to_the_stdout_log(daemon):
    daemon.start(
        {
            "w": {
                "command": helper("seqwriter", "--count", 100, "--stderr"),
                "startsecs": 0,
                "autorestart": False,
                "redirect_stderr": True,
            }
        }
    )
    daemon.wait_state("w", "EXITED")
    text = daemon.read_log("w")
    assert text.count("seq ") == 100 and text.count("err ") == 100
    assert not daemon.log_path("w", "stderr").exists()


def test_children_do_not_inherit_the_daemons_notify_variables(daemon):
    daemon.env.update(NOTIFY_SOCKET="/nonexistent/notify", WATCHDOG_USEC="1000000")
    daemon.start(
        {
            "env": {
                "command": ["env"],
                "startsecs": 0,
                "autorestart": False,
                "environment": {"GREETING": "hello"},
            }
        }
    )
    daemon.wait_state("env", "EXITED")
    text = daemon.read_log("env")
    assert "GREETING=hello" in text and "SUPERVISOR_PROCESS_NAME=env" in text
    assert "NOTIFY_SOCKET" not in text and "WATCHDOG_USEC" not in text


# -- an external logrotate, as logrotate(8) does it, while tail -f / maintail -f follow --


class Reader:
    """A `tail -f`-like ctl command whose stdout is read as it comes."""

    def __init__(self, daemon, *args: str):
        self.proc = subprocess.Popen(
            [*CTL_CMD, "-c", str(daemon.config), *args],
            stdout=subprocess.PIPE,
            env=daemon.env,
        )
        self.got = b""

    def until(self, done, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not done(self.got):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; got {self.got[-400:]!r}"
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                part = os.read(fd, 65536)
                assert part, f"the follower ended: {self.got[-400:]!r}"
                self.got += part
        return self.got

    def numbers(self) -> list[int]:
        return [int(x.split()[1]) for x in self.got.decode().splitlines() if x.startswith("seq ")]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def has_lines(n: int):
    return lambda data: data.count(b"\n") >= n


def grows(path: Path, by: int):
    start = path.stat().st_size
    return lambda: path.stat().st_size >= start + by


def assert_contiguous(numbers: list[int]) -> None:
    assert numbers, "nothing followed"
    want = list(range(numbers[0], numbers[0] + len(numbers)))
    missing = sorted(set(want) - set(numbers))
    assert numbers == want, f"lines lost {missing[:10]} or repeated, of {len(numbers)}"


def test_tail_f_loses_nothing_when_logrotate_creates_the_new_file_before_sigusr2(daemon):
    """logrotate's `create`: rename x.log to x.log.1, create an empty x.log, then
    SIGUSR2. Until the signal the daemon still writes into x.log.1: a follower that
    went by the name moved to the empty new file there and lost those lines."""
    daemon.start({"w": {"command": helper("seqwriter", "--interval", 0.01), "startsecs": 0}})
    log = daemon.log_path("w")
    daemon.wait_until(lambda: log.exists() and log.stat().st_size > 200)
    reader = Reader(daemon, "tail", "-f", "-n", "0", "w")
    try:
        reader.until(has_lines(3))
        for _ in range(3):
            os.rename(log, f"{log}.1")
            log.touch(mode=0o640)
            daemon.wait_until(grows(Path(f"{log}.1"), 200))  # lines after the create
            os.kill(daemon.pid, signal.SIGUSR2)
            daemon.wait_until(grows(log, 200))
        last = int(log.read_text().splitlines()[-1].split()[1])
        reader.until(lambda data: reader.numbers() and reader.numbers()[-1] >= last)
    finally:
        reader.close()
    assert_contiguous(reader.numbers())


def test_tail_f_loses_nothing_when_logrotate_copies_and_truncates(daemon):
    """logrotate's `copytruncate`: copy x.log to x.log.1, then empty x.log in place; the
    daemon's next line lands at its start. The first time, the file held a single line
    when it was emptied, so the next one made it exactly as long as what the follower
    had read: going by the size alone, that line was lost."""
    w = {"command": helper("seqwriter", "--interval", 0.4), "startsecs": 0, "autostart": False}
    daemon.start({"w": w})
    log = daemon.log_path("w")
    # -n 5, not 0: a first line written before the follower is attached is shown too
    reader = Reader(daemon, "tail", "-f", "-n", "5", "w")
    try:
        daemon.ctl_ok("start", "w")
        writer = daemon.status("w")["w"]["pid"]
        for n in (1, 3, 5):  # right after the first line, then with more in the file
            # The writer is held while the file is copied and emptied: a line written in
            # between is lost by copytruncate itself (logrotate says so), not by the daemon.
            reader.until(lambda data, n=n: len(reader.numbers()) >= n)
            os.kill(writer, signal.SIGSTOP)
            try:
                last = int(log.read_text().splitlines()[-1].split()[1])
                reader.until(lambda data, last=last: reader.numbers()[-1] >= last)
                shutil.copyfile(log, f"{log}.1")
                os.truncate(log, 0)
            finally:
                os.kill(writer, signal.SIGCONT)
        reader.until(lambda data: len(reader.numbers()) >= 8)
    finally:
        reader.close()
    assert_contiguous(reader.numbers())
    assert reader.numbers()[0] == 1


def test_maintail_f_loses_nothing_when_logrotate_creates_the_new_file_before_sigusr2(daemon):
    # A program that exits every 20 ms keeps the daemon's log busy.
    daemon.start(
        {
            "w": {
                "command": ["sleep", "0.02"],
                "startsecs": 0,
                "autorestart": True,
                "backoff_max": 0,
            }
        },  # fmt: skip
    )
    log = daemon.logfile
    daemon.wait_until(lambda: log.read_text().count("spawned:") > 5)
    reader = Reader(daemon, "maintail", "-f", "-n", "0")
    try:
        reader.until(has_lines(3))
        os.rename(log, f"{log}.1")
        log.touch(mode=0o640)
        daemon.wait_until(grows(Path(f"{log}.1"), 2000))
        os.kill(daemon.pid, signal.SIGUSR2)
        daemon.wait_until(lambda: log.stat().st_size > 2000)
        daemon.ctl_ok("stop", "w")
        last = log.read_text().splitlines()[-1]
        reader.until(lambda data: last.encode() in data)
    finally:
        reader.close()
    both = Path(f"{log}.1").read_text() + log.read_text()
    followed = reader.got.decode()
    first = followed.splitlines()[0]
    assert first in both
    start = both.index(first + "\n")
    assert both[start : start + len(followed)] == followed, "lines lost or repeated"


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S")


def test_maintail_f_loses_nothing_when_logrotate_copies_and_truncates(daemon):
    """The daemon's log emptied in place after each start and each stop: the lines of a
    start are longer than those of a stop, so after a stop's lines the file grows past
    what the follower had read before it finds out."""
    daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0, "autostart": False}})
    log = daemon.logfile

    def copytruncate() -> None:
        shutil.copyfile(log, f"{log}.1")
        os.truncate(log, 0)

    reader = Reader(daemon, "maintail", "-f", "-n", "1")
    try:
        reader.until(has_lines(1))  # following now
        for n in range(1, 4):
            daemon.ctl_ok("start", "a")
            reader.until(lambda data, n=n: data.count(b"success: a") == n)
            copytruncate()
            daemon.ctl_ok("stop", "a")
            reader.until(lambda data, n=n: data.count(b"stopped: a") == n)
            copytruncate()
    finally:
        reader.close()
    lines = reader.got.decode().splitlines()
    broken = [line for line in lines if not LOG_LINE.match(line)]
    assert not broken, f"lines cut: {broken[:3]}"
    assert len(set(lines)) == len(lines), "lines repeated"
    assert sum("spawned: 'a'" in line for line in lines) == 3
