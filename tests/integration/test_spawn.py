"""How children are started (SPEC §2, §3): directory, environment, umask, user, no fds."""

from __future__ import annotations

import os
import pwd
import subprocess

import pytest

from integration.harness import DAEMON_CMD

pytestmark = pytest.mark.timeout(30)

SHOW = (
    'pwd; umask; echo "GREETING=$GREETING"; echo "NAME=$SUPERVISOR_PROCESS_NAME"; '
    'id -u; id -G; echo "HOME=$HOME USER=$USER"; grep -E "^Sig(Blk|Ign)" /proc/self/status; '
    "echo $(ls /proc/self/fd)"
)


def run_once(daemon, **program) -> list[str]:
    daemon.start({"show": {"command": ["sh", "-c", SHOW], "startsecs": 0, **program}})
    daemon.wait_state("show", "EXITED")
    return daemon.read_log("show").splitlines()


# glibc's posix_spawn leaves its two reserved signals (32 and 33, which no program may
# use and glibc's own start-up takes over) ignored in the child; the bit for signal N is
# 1 << (N - 1).
GLIBC_INTERNAL_SIGNALS = (1 << 31) | (1 << 32)


# Programs with a directory (or user) start through Popen, the others through posix_spawn:
# both paths must give the child the same start.
@pytest.mark.parametrize("directory", ["work", None], ids=["popen", "posix_spawn"])
def test_directory_environment_umask_signals_and_only_stdio(daemon, directory):
    workdir = daemon.path("work")
    workdir.mkdir()
    program = {"environment": {"GREETING": "hello world"}, "umask": 0o077}
    if directory is not None:
        program["directory"] = directory  # relative to the config file's folder
    lines = run_once(daemon, autorestart=False, **program)
    # Without `directory`, the daemon's own working directory: / once detached.
    assert lines[0] == (str(workdir) if directory else "/")
    assert lines[1] == "0077"
    assert lines[2] == "GREETING=hello world"
    assert lines[3] == "NAME=show"
    # No signal blocked or ignored: Python ignores SIGPIPE and SIGXFSZ, a child must not.
    assert lines[7] == "SigBlk:\t0000000000000000"
    assert lines[8].startswith("SigIgn:")
    ignored = int(lines[8].split()[1], 16) & ~GLIBC_INTERNAL_SIGNALS
    assert ignored == 0, [n + 1 for n in range(64) if ignored >> n & 1]
    # stdin, stdout, stderr, and the fd `ls` itself opens on /proc/self/fd: nothing inherited.
    assert sorted(lines[-1].split()) == ["0", "1", "2", "3"]


def test_umask_of_one_program_does_not_leak_into_the_daemons_files(daemon):
    """posix_spawn takes the umask from the daemon, which sets the program's around the
    spawn: the daemon's own files (here the program's log, created later) keep 0640 (with
    the program's 0o077 leaking, it would be 0600)."""
    run_once(daemon, umask=0o077, autorestart=False)
    mode = os.stat(daemon.log_path("show")).st_mode & 0o777
    assert mode == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_switches_uid_groups_and_home(daemon):
    nobody = pwd.getpwnam("nobody")
    lines = run_once(daemon, user="nobody", autorestart=False)
    assert lines[4] == str(nobody.pw_uid)
    assert lines[5].split() == [str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)]
    assert lines[6] == f"HOME={nobody.pw_dir} USER=nobody"


@pytest.mark.parametrize("directory", [None, "."], ids=["posix_spawn", "popen"])
def test_descriptors_the_daemon_inherited_do_not_reach_programs(daemon, directory):
    """A launcher that leaks a descriptor into the daemon must not leak it into programs
    (both spawn paths: posix_spawn has no close_fds, so the daemon marks them at start)."""
    program = {"command": ["sh", "-c", SHOW], "startsecs": 0, "autorestart": False}
    if directory is not None:
        program["directory"] = directory
    daemon.write_config({"show": program})
    leaked = os.open(daemon.path("leaked"), os.O_WRONLY | os.O_CREAT)  # inheritable on purpose
    os.set_inheritable(leaked, True)
    try:
        cmd = [*DAEMON_CMD, "-c", str(daemon.config)]
        launched = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, env=daemon.env,
            pass_fds=(leaked,), timeout=30,
        )  # fmt: skip
    finally:
        os.close(leaked)
    daemon._remember_daemon()
    assert launched.returncode == 0, launched.stderr
    daemon.wait_state("show", "EXITED")
    fds = daemon.read_log("show").splitlines()[-1].split()
    assert sorted(fds) == ["0", "1", "2", "3"]


def test_command_is_looked_up_in_the_programs_own_path(daemon):
    """A bare command name is searched in PATH as the program will see it (its
    `environment` may set PATH), skipping a non-executable file of the same name."""
    first, second = daemon.path("bin1"), daemon.path("bin2")
    first.mkdir()
    second.mkdir()
    (first / "hello").write_text("#!/bin/sh\necho not me\n")  # not executable: skipped
    script = second / "hello"
    script.write_text("#!/bin/sh\necho hello from $0\n")
    script.chmod(0o755)
    daemon.start(
        {
            "show": {
                "command": ["hello"],
                "environment": {"PATH": f"{first}:{second}:/usr/bin:/bin"},
                "startsecs": 0,
                "autorestart": False,
            }
        }
    )
    daemon.wait_state("show", "EXITED")
    assert daemon.read_log("show").splitlines() == [f"hello from {script}"]
