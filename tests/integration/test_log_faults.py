"""Log targets a hostile user picks: FIFOs, devices, the daemon's own stdout, paths the
daemon cannot write, a full disk, a followed log whose program a reload changes.

Nothing a log target does may block the daemon or lose bytes that have a reader.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from integration.harness import CTL_CMD, foreground_daemon, helper

pytestmark = pytest.mark.timeout(60)


def seq_numbers(text: str, prefix: str = "seq") -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith(prefix + " ")]


def read_until(fd: int, done, timeout: float, chunk: int = 65536, pace: float = 0.0) -> bytes:
    """Read fd (non-blocking reads behind select) until done(data) or the deadline."""
    data = b""
    deadline = time.monotonic() + timeout
    while not done(data):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(
                f"timed out after {timeout}s; got {len(data)} bytes: {data[-300:]!r}"
            )
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            part = os.read(fd, chunk)
            if not part:
                break  # EOF
            data += part
            if pace:
                time.sleep(pace)  # a deliberately slow reader: the daemon meets EAGAIN
    return data


@pytest.fixture
def fifo(daemon):
    path = daemon.path("out.fifo")
    os.mkfifo(path)
    return path


# -- 1. a FIFO target never freezes the daemon; backpressure loses nothing ----------------


def test_fifo_without_a_reader_freezes_nothing_and_a_late_slow_reader_gets_every_line(daemon, fifo):
    daemon.start(
        {
            "talker": {
                "command": helper("seqwriter", "--count", 20000, "--width", 100, "--stay"),
                "startsecs": 0,
                "stdout_logfile": str(fifo),
                "stdout_logfile_maxbytes": 1000,  # a stream is never rotated
                "stdout_logfile_backups": 2,
            },
            "other": {"command": ["sleep", "300"], "startsecs": 0},
        }
    )
    # The talker's first bytes meet a FIFO nobody reads: the daemon must still serve us.
    daemon.wait_until(
        lambda: "no process has this FIFO open for reading" in daemon.logfile.read_text()
    )
    t0 = time.monotonic()
    daemon.ctl_ok("restart", "other", timeout=10)
    assert time.monotonic() - t0 < 5
    assert "waiting for a reader" in daemon.status()["talker"]["description"]
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        data = read_until(reader, lambda d: b"seq 0020000" in d, 40, chunk=4096, pace=0.001)
    finally:
        os.close(reader)
    numbers = seq_numbers(data.decode())
    assert numbers == list(range(1, 20001)), "lines lost, repeated or out of order"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"
    assert not os.path.exists(f"{fifo}.1"), "a stream was rotated"
    daemon.wait_until(lambda: "writing again" in daemon.logfile.read_text())
    assert "waiting for a reader" not in daemon.status()["talker"]["description"]


# -- 2. /dev/stdout and friends are the daemon's own descriptors --------------------------


@pytest.mark.parametrize(
    "target, fd, kind",
    [
        ("/dev/stdout", 1, "pipe"),
        ("/dev/fd/1", 1, "pipe"),
        ("/dev/stderr", 2, "pipe"),
        ("/dev/fd/2", 2, "pipe"),
        ("/dev/stdout", 1, "socket"),  # systemd's journal: open("/dev/stdout") fails
    ],
)
def test_dev_stdout_of_a_foreground_daemon_loses_nothing(daemon, target, fd, kind):
    daemon.write_config(
        {
            "talker": {
                "command": helper("seqwriter", "--count", 30000, "--stay"),
                "startsecs": 0,
                "stdout_logfile": target,
                "stdout_logfile_maxbytes": 0,
            },
            "quiet": {  # numprocs > 1 may share the daemon's stdout
                "command": ["sleep", "300"],
                "numprocs": 2,
                "stdout_logfile": target,
            },
        }
    )
    if kind == "pipe":
        read_end, write_end = os.pipe()
    else:
        ours, theirs = socket.socketpair()
        read_end, write_end = os.dup(ours.fileno()), os.dup(theirs.fileno())
        ours.close()
        theirs.close()
    other = open(daemon.path("other-stream"), "wb")
    try:
        with foreground_daemon(
            daemon, stdout=write_end if fd == 1 else other, stderr=write_end if fd == 2 else other
        ):
            os.close(write_end)
            # A slow reader: the daemon meets a full pipe/socket and must hold back, not drop.
            data = read_until(read_end, lambda d: b"seq 0030000" in d, 40, chunk=8192, pace=5e-4)
        numbers = seq_numbers(data.decode(errors="replace"))
        assert numbers == list(range(1, 30001)), "lines lost, repeated or out of order"
        log = daemon.logfile.read_text()
        assert "discarded" not in log and "cannot write" not in log, log
    finally:
        os.close(read_end)
        other.close()


def test_dev_stdout_of_a_detached_daemon_is_dev_null(daemon):
    daemon.start(
        {
            "talker": {
                "command": helper("seqwriter", "--count", 3000),
                "startsecs": 0,
                "autorestart": False,
                "stdout_logfile": "/dev/stdout",
            }
        }
    )
    daemon.wait_state("talker", "EXITED")
    log = daemon.logfile.read_text()
    assert "cannot write" not in log and "discarded" not in log, log


# -- 3. only regular files are ever renamed, truncated or unlinked ----------------------


def test_a_char_device_log_is_written_but_never_rotated(daemon):
    if os.geteuid() != 0:
        pytest.skip("mknod of a character device needs root")
    dev = daemon.path("null")
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.symlink(dev, str(dev) + "-link")  # a symlink to a device is that device
    daemon.start(
        {
            "talker": {
                "command": helper("seqwriter", "--count", 3000),
                "startsecs": 0,
                "autorestart": False,
                "stdout_logfile": str(dev),
                "stdout_logfile_maxbytes": 1000,
                "stdout_logfile_backups": 0,
            },
            "chatty": {
                "command": helper("seqwriter", "--count", 3000),
                "startsecs": 0,
                "autorestart": False,
                "stdout_logfile": str(dev) + "-link",
                "stdout_logfile_maxbytes": 1000,
                "stdout_logfile_backups": 3,
            },
        }
    )
    daemon.wait_state("talker", "EXITED")
    daemon.wait_state("chatty", "EXITED")
    for path in (dev, Path(str(dev) + "-link")):
        st = os.lstat(path) if path == dev else os.stat(path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3), f"{path} replaced"
    assert sorted(p.name for p in daemon.dir.iterdir() if p.name.startswith("null")) == [
        "null",
        "null-link",
    ]
    assert "cannot write" not in daemon.logfile.read_text()


def test_a_rotation_chain_member_that_is_not_a_file_stops_rotation_not_the_log(daemon, fifo):
    log = daemon.path("w.log")
    os.symlink(fifo, daemon.path("w.log.2"))  # a symlink is a name: fine to move
    os.mkdir(daemon.path("w.log.3"))
    daemon.start(
        {
            "w": {
                "command": helper("seqwriter", "--count", 500),
                "startsecs": 0,
                "autorestart": False,
                "stdout_logfile": str(log),
                "stdout_logfile_maxbytes": 2000,
                "stdout_logfile_backups": 3,
            }
        }
    )
    daemon.wait_state("w", "EXITED")
    daemon.wait_until(lambda: "cannot rotate" in daemon.logfile.read_text())
    assert daemon.path("w.log.3").is_dir()
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    chain = b"".join(
        p.read_bytes() for p in (daemon.path("w.log.1"), log) if p.exists() and p.is_file()
    )
    assert seq_numbers(chain.decode()) == list(range(1, 501))


# -- 4. tail -f survives a reload of its program -----------------------------------------


def follow(daemon, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CTL_CMD, "-c", str(daemon.config), "tail", "-f", "-n", "0", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=daemon.env,
    )


def stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def test_tail_f_keeps_following_a_program_that_reload_changes(daemon):
    def writer(width: int) -> dict:
        return {
            "command": helper("seqwriter", "--interval", 0.01, "--width", width),
            "startsecs": 0,
        }

    daemon.start({"w": writer(40)})
    daemon.wait_until(lambda: daemon.read_log("w"))
    follower = follow(daemon, "w")
    try:
        fd = follower.stdout.fileno()
        read_until(fd, lambda d: d.count(b"\n") >= 3, 10)
        daemon.write_config({"w": writer(60)})
        daemon.ctl_ok("reload")
        got = read_until(fd, lambda d: any(len(x) == 59 for x in d.split(b"\n")), 15)
        assert got
    finally:
        stop(follower)


def test_tail_f_of_a_program_that_reload_removes_ends_with_an_error(daemon):
    w = {"command": helper("seqwriter", "--interval", 0.01), "startsecs": 0}
    daemon.start({"w": w, "other": {"command": ["sleep", "300"], "startsecs": 0}})
    daemon.wait_until(lambda: daemon.read_log("w"))
    follower = follow(daemon, "w")
    try:
        read_until(follower.stdout.fileno(), lambda d: d.count(b"\n") >= 3, 10)
        daemon.write_config({"other": {"command": ["sleep", "300"], "startsecs": 0}})
        daemon.ctl_ok("reload")
        rc = follower.wait(10)
        err = follower.stderr.read().decode()
        assert rc != 0 and "removed" in err, err
    finally:
        stop(follower)


# -- 5. unreadable logs: clear errors, up front and from tail ----------------------------


def check(daemon, programs: dict) -> subprocess.CompletedProcess:
    daemon.write_config(programs)
    return daemon.launch("--check")


def test_check_rejects_a_log_path_that_is_a_directory_or_a_name_too_long(daemon):
    daemon.path("adir").mkdir()
    res = check(
        daemon,
        {
            "a": {"command": ["true"], "stdout_logfile": "adir"},
            "b": {"command": ["true"], "stderr_logfile": "x" * 300 + ".log"},
        },
    )
    assert res.returncode != 0, res.stdout
    assert "programs.a.stdout_logfile" in res.stderr and "is a directory" in res.stderr
    assert "programs.b.stderr_logfile" in res.stderr and "255" in res.stderr
    assert "Traceback" not in res.stderr


def test_tail_of_a_log_that_became_a_directory_is_a_clear_error(daemon):
    daemon.start({"q": {"command": ["sleep", "300"], "startsecs": 0}})
    daemon.log_path("q").mkdir(parents=True)
    for args in (("tail", "q"), ("tail", "-f", "q")):
        res = daemon.ctl(*args, timeout=10)
        assert res.returncode != 0
        assert "INTERNAL" not in res.stderr and "is a directory" in res.stderr, res.stderr
    daemon.ctl_ok("status")


def test_tail_of_a_stream_log_is_refused_without_reading_it(daemon, fifo):
    daemon.start({"q": {"command": ["sleep", "300"], "startsecs": 0, "stdout_logfile": str(fifo)}})
    for args in (("tail", "q"), ("tail", "-f", "q")):
        res = daemon.ctl(*args, timeout=10)  # opening a FIFO for reading would block
        assert res.returncode != 0 and "not a regular file" in res.stderr, res.stderr
    daemon.ctl_ok("status", timeout=10)


# -- 6 and 7. unwritable logs: rejected up front, reported when it happens later ----------


def test_a_full_disk_is_shown_reported_again_after_recovery_and_writing_again(daemon, tiny_disk):
    daemon.start(
        {
            "flood": {
                "command": helper("seqwriter", "--width", 200, "--interval", 0.0005),
                "startsecs": 0,
            }
        }
    )
    full = "No space left on device"
    daemon.wait_until(lambda: full in daemon.status()["flood"]["description"], 20)
    assert daemon.logfile.read_text().count("cannot write log") == 1
    os.truncate(daemon.log_path("flood"), 0)  # room again
    daemon.wait_until(lambda: "writing again" in daemon.logfile.read_text(), 10)
    daemon.wait_until(lambda: daemon.logfile.read_text().count("cannot write log") == 2, 20)
    assert daemon.logfile.read_text().count("cannot write log") < 10, "one line per chunk"
    assert full in daemon.status()["flood"]["description"]


def missing_dir_programs(daemon) -> dict:
    return {
        "a": {"command": ["sleep", "300"], "startsecs": 0},
        "b": {
            "command": ["sleep", "300"],
            "startsecs": 0,
            "stderr_logfile": str(daemon.path("nodir/b.err")),
        },
    }


def test_a_log_in_a_missing_directory_fails_check_launch_and_reload(daemon):
    daemon.write_config(missing_dir_programs(daemon))
    for res in (daemon.launch("--check"), daemon.launch()):
        assert res.returncode != 0
        assert "programs.b.stderr_logfile" in res.stderr, res.stderr
        assert "does not exist" in res.stderr, res.stderr
    daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0}})
    pid = daemon.status()["a"]["pid"]
    daemon.write_config(missing_dir_programs(daemon))
    res = daemon.ctl("reload")
    assert res.returncode != 0 and "programs.b.stderr_logfile" in res.stderr, res.stderr
    assert set(daemon.status()) == {"a"} and daemon.status()["a"]["pid"] == pid


def test_a_log_whose_parent_is_a_file_or_read_only_fails_check(daemon):
    daemon.path("afile").write_text("")
    ro = daemon.path("ro")
    ro.mkdir()
    progs = {
        "a": {"command": ["true"], "stdout_logfile": "afile/a.log"},
        "b": {"command": ["true"], "stdout_logfile": "ro/b.log"},
    }
    mounted = False
    if os.geteuid() == 0:
        mounted = (
            subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro]).returncode
            == 0
        )
    else:
        ro.chmod(0o555)
    try:
        if os.geteuid() == 0 and not mounted:
            pytest.skip("cannot mount a read-only tmpfs")
        res = check(daemon, progs)
        assert res.returncode != 0
        assert "programs.a.stdout_logfile" in res.stderr and "not a directory" in res.stderr
        assert "programs.b.stdout_logfile" in res.stderr and "not writable" in res.stderr
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(ro)])


def test_a_log_dir_removed_while_running_shows_in_status_until_it_is_back(daemon):
    logs = daemon.path("logdir")
    logs.mkdir()
    daemon.start(
        {
            "w": {
                "command": helper("seqwriter", "--interval", 0.02),
                "startsecs": 0,
                "stdout_logfile": str(logs / "w.log"),
            }
        }
    )
    daemon.wait_until(lambda: (logs / "w.log").exists())
    (logs / "w.log").unlink()
    logs.rmdir()
    os.kill(daemon.pid, signal.SIGUSR2)  # logrotate's reopen: the directory is gone
    daemon.wait_until(lambda: "No such file" in daemon.status()["w"]["description"])
    assert daemon.status()["w"]["state"] == "RUNNING"
    logs.mkdir()
    daemon.wait_until(lambda: "log " not in daemon.status()["w"]["description"])
    daemon.wait_until(lambda: (logs / "w.log").exists())
    assert "writing again" in daemon.logfile.read_text()
