"""A program's user cannot point the root daemon's log handling at another file.

The program runs as `nobody` and owns its log directory; the attacker is `nobody` too
(a forked child that drops to uid 65534). Whatever link it plants — a symbolic link or
a hard link for the log, a link for a directory on the way, links among the rotated
names — the daemon must never create, append to, rename, empty or serve the target.
One test per moment the daemon meets the path: first open, rotation, SIGUSR2 reopen,
daemon restart, `clear`, `tail` and `tail -f` (across rotation). Extend the class here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from integration.harness import CTL_CMD, Daemon
from integration.http_helpers import post, start_http

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run programs as nobody"),
]

NOBODY = 65534
# Numbered 40-byte lines, every 5 ms (nobody cannot run the venv's python, under /root).
NUMBERED = [
    "sh",
    "-c",
    'i=0; while :; do i=$((i+1)); printf "seq %07d %027d\\n" $i 0; sleep 0.005; done',
]
SECRET = b"root only: never to be read or written by nobody\n"


def as_nobody(action: Callable[[], None]) -> None:
    """Run action in a forked child as uid/gid 65534: what the program's user can do."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(r)
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                action()
                code = 0
            except BaseException as exc:  # noqa: BLE001 - report anything to the parent
                os.write(w, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        error = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"as nobody: {error}"


class Scene:
    """The daemon's dir (traversable), a directory `app` owned by nobody holding the
    program's log, a root-only secret file and a root-only directory `rootdir`."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        os.chmod(daemon.dir, 0o711)
        self.app = daemon.path("app")
        self.app.mkdir()
        os.chown(self.app, NOBODY, NOBODY)
        self.log = self.app / "x.log"
        self.secret = daemon.path("secret")
        self.secret.write_bytes(SECRET)
        os.chmod(self.secret, 0o600)
        self.rootdir = daemon.path("rootdir")
        self.rootdir.mkdir(mode=0o700)

    def program(self, log: Path | None = None, **keys) -> dict:
        table = {
            "command": NUMBERED,
            "user": "nobody",
            "startsecs": 0,
            "stdout_logfile": str(log or self.log),
            "stdout_logfile_maxbytes": "1MB",
            "stdout_logfile_backups": 2,
        }
        table.update(keys)
        return {"w": table}

    def plant_symlink(self, target: Path, at: Path | None = None) -> None:
        at = at or self.log

        def swap() -> None:
            if os.path.lexists(at):
                os.unlink(at)
            os.symlink(target, at)

        as_nobody(swap)

    def secret_intact(self) -> None:
        assert self.secret.read_bytes() == SECRET, "the root-only file was written"
        assert os.stat(self.secret).st_nlink >= 1
        assert sorted(os.listdir(self.rootdir)) == [], "a file was created in rootdir"

    def wait_logged(self, *words: str) -> str:
        """Wait until the daemon logs a line holding every word (or the attack hits)."""

        def seen() -> str | None:
            if self.secret.read_bytes() != SECRET or os.listdir(self.rootdir):
                return "the attack went through"
            text = self.daemon.logfile.read_text()
            lines = [line for line in text.splitlines() if all(w in line for w in words)]
            return lines[-1] if lines else None

        return self.daemon.wait_until(seen, 15, message=f"a daemon log line with {words}")

    def wait_lines(self, n: int = 20) -> None:
        self.daemon.wait_until(lambda: self.log.exists() and self.log.stat().st_size > 40 * n)


@pytest.fixture
def scene(daemon) -> Scene:
    return Scene(daemon)


@pytest.mark.parametrize("target", ["existing", "new"])
def test_first_open_refuses_a_planted_symlink(daemon, scene, target):
    """Before the program's first byte its log is a link to a root file (appended to)
    or to a name in a root-only directory (created): neither is touched."""
    aim = scene.secret if target == "existing" else scene.rootdir / "x"
    scene.plant_symlink(aim)
    daemon.start(scene.program(autostart=False))
    daemon.ctl_ok("start", "w")
    line = scene.wait_logged("cannot write log", str(scene.log), "symbolic link")
    assert "uid 65534" in line, line
    scene.secret_intact()
    desc = daemon.status("w")["w"]["description"]
    assert "symbolic link" in desc, desc


def test_sigusr2_reopen_refuses_a_planted_symlink(daemon, scene):
    daemon.start(scene.program())
    scene.wait_lines()
    scene.plant_symlink(scene.secret)
    os.kill(daemon.pid, signal.SIGUSR2)
    scene.wait_logged("cannot write log", "symbolic link")
    scene.secret_intact()


def test_a_restarted_daemon_refuses_a_planted_symlink(daemon, scene):
    daemon.start(scene.program())
    scene.wait_lines()
    daemon.ctl_ok("shutdown")
    daemon.wait_until(lambda: not daemon.pidfile.exists())
    scene.plant_symlink(scene.secret)
    daemon.start()
    scene.wait_logged("cannot write log", "symbolic link")
    scene.secret_intact()


def test_rotation_never_leaves_the_directory_nor_follows_rotated_names(daemon, scene):
    """The rotated names are links to the secret (moved or removed as names, never
    followed); then the directory on the way is swapped for a link to a root-only
    directory holding a file of the log's name, which rotation would have moved away
    and replaced with the program's output."""
    sub = scene.app / "sub"
    as_nobody(lambda: os.mkdir(sub))
    log = sub / "x.log"
    as_nobody(lambda: os.symlink(scene.secret, sub / "x.log.1"))
    os.link(scene.secret, sub / "x.log.2")  # as a host without protected_hardlinks allows
    crontab = scene.rootdir / "x.log"
    daemon.start(scene.program(log, stdout_logfile_maxbytes=2000))
    daemon.wait_until(lambda: (sub / "x.log.2").exists() and not (sub / "x.log.2").is_symlink())
    daemon.wait_until(lambda: os.stat(scene.secret).st_nlink == 1)  # the hard link unlinked
    assert scene.secret.read_bytes() == SECRET

    crontab.write_bytes(b"root's own\n")
    as_nobody(lambda: (os.rename(sub, scene.app / "sub.old"), os.symlink(scene.rootdir, sub)))

    def rotated_or_refused() -> bool:
        if crontab.read_bytes() != b"root's own\n" or len(os.listdir(scene.rootdir)) != 1:
            return True
        return "cannot rotate log" in daemon.logfile.read_text()

    daemon.wait_until(rotated_or_refused, 15)
    assert os.listdir(scene.rootdir) == ["x.log"]
    assert crontab.read_bytes() == b"root's own\n", "rotation wrote into rootdir"
    assert "symbolic link" in daemon.log_tail(), daemon.log_tail()
    assert scene.secret.read_bytes() == SECRET
    # Still writing, into the file it had (now under sub.old): nothing lost.
    old = scene.app / "sub.old" / "x.log"
    size = old.stat().st_size
    daemon.wait_until(lambda: old.stat().st_size > size)


def test_clear_refuses_a_planted_symlink(daemon, scene):
    daemon.start(scene.program(autostart=False))
    scene.plant_symlink(scene.secret)
    res = daemon.ctl("clear", "w")
    scene.secret_intact()
    assert "symbolic link" in res.stdout + res.stderr, daemon.describe(res)


@pytest.mark.parametrize("log_open", [True, False], ids=["log-open", "log-closed"])
def test_tail_never_serves_a_planted_symlink(daemon, scene, log_open):
    """Open: the daemon's own file is served, whatever the name points to now. Closed
    (a daemon restarted since, the program not started): the link is refused."""
    port = start_http(daemon, scene.program(autostart=log_open))
    if log_open:
        scene.wait_lines()
    else:
        scene.log.write_text("seq 0000001 from before\n")
    scene.plant_symlink(scene.secret)
    res = daemon.ctl("tail", "-n", "5", "w")
    assert "root only" not in res.stdout + res.stderr, "tail served the root-only file"
    if log_open:
        assert res.returncode == 0 and "seq " in res.stdout, daemon.describe(res)
    else:
        assert res.returncode != 0 and "symbolic link" in res.stderr, daemon.describe(res)
    raw = daemon.ctl("tail", "--json", "-n", "5", "w")
    assert "root only" not in raw.stdout + raw.stderr
    # The page's API (for a read-only viewer as for anyone) calls the same handler.
    code, reply = post(port, "tail", {"name": "w", "lines": 5})
    assert "root only" not in json.dumps(reply)
    assert reply["ok"] is log_open, reply


def test_tail_f_across_rotation_never_serves_a_planted_symlink(daemon, scene):
    daemon.start(scene.program(stdout_logfile_maxbytes=3000))
    scene.wait_lines(5)
    follower = subprocess.Popen(
        [*CTL_CMD, "-c", str(daemon.config), "tail", "-f", "-n", "1", "w"],
        stdout=subprocess.PIPE,
        env=daemon.env,
    )
    try:
        got = follower.stdout.read1(65536)
        scene.plant_symlink(scene.secret)  # the daemon writes on into its own file
        scene.plant_symlink(scene.secret, scene.app / "x.log.1")
        while got.count(b"\n") < 600 and b"root only" not in got:  # ~8 rotations
            got += follower.stdout.read1(65536)
    finally:
        follower.kill()
        follower.wait()
    assert b"root only" not in got, "tail -f served the root-only file"
    lines = got.decode().splitlines()[:-1]
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "gap or repeat"
    scene.secret_intact()


@pytest.mark.parametrize("how", ["write", "tail", "clear"])
def test_a_hard_link_to_a_root_file_is_neither_written_nor_read(daemon, scene, how):
    """Made by root here, as a host without fs.protected_hardlinks lets anyone do."""
    os.link(scene.secret, scene.log)
    daemon.start(scene.program(autostart=False))
    if how == "write":
        daemon.ctl_ok("start", "w")
        scene.wait_logged("cannot write log", "hard links")
    elif how == "tail":
        res = daemon.ctl("tail", "w")
        assert res.returncode != 0 and "hard links" in res.stderr, daemon.describe(res)
        assert "root only" not in res.stdout
    else:
        res = daemon.ctl("clear", "w")
        assert "hard links" in res.stdout + res.stderr, daemon.describe(res)
    scene.secret_intact()


def test_an_own_log_directory_still_works(daemon, scene):
    """The rules refuse links, not the directory: the program's own log is written,
    rotated, tailed and cleared as ever, created 0640."""
    daemon.start(scene.program(stdout_logfile_maxbytes=2000))
    daemon.wait_until(lambda: (scene.app / "x.log.2").exists())
    assert os.stat(scene.log).st_mode & 0o777 == 0o640
    res = daemon.ctl_ok("tail", "--json", "-n", "2", "w")
    assert "seq " in json.loads(res.stdout)["data"]
    daemon.ctl_ok("clear", "w")
    assert "refused" not in daemon.logfile.read_text()
