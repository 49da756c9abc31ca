"""How children are started (SPEC §2, §3): directory, environment, umask, user, no fds."""

from __future__ import annotations

import os
import pwd

import pytest

pytestmark = pytest.mark.timeout(30)

SHOW = (
    'pwd; umask; echo "GREETING=$GREETING"; echo "NAME=$SUPERVISOR_PROCESS_NAME"; '
    'id -u; id -G; echo "HOME=$HOME USER=$USER"; echo $(ls /proc/self/fd)'
)


def run_once(daemon, **program) -> list[str]:
    daemon.start({"show": {"command": ["sh", "-c", SHOW], "startsecs": 0, **program}})
    daemon.wait_state("show", "EXITED")
    return daemon.read_log("show").splitlines()


def test_directory_environment_umask_and_only_stdio(daemon):
    workdir = daemon.path("work")
    workdir.mkdir()
    lines = run_once(
        daemon,
        directory="work",  # relative to the config file's folder
        environment={"GREETING": "hello world"},
        umask=0o077,
        autorestart=False,
    )
    assert lines[0] == str(workdir)
    assert lines[1] == "0077"
    assert lines[2] == "GREETING=hello world"
    assert lines[3] == "NAME=show"
    # stdin, stdout, stderr, and the fd `ls` itself opens on /proc/self/fd: nothing inherited.
    assert sorted(lines[-1].split()) == ["0", "1", "2", "3"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_switches_uid_groups_and_home(daemon):
    nobody = pwd.getpwnam("nobody")
    lines = run_once(daemon, user="nobody", autorestart=False)
    assert lines[4] == str(nobody.pw_uid)
    assert lines[5].split() == [str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)]
    assert lines[6] == f"HOME={nobody.pw_dir} USER=nobody"
