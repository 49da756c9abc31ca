"""linux/pid_env.py: the trampoline's argv (the integration side is in test_health.py)."""

from __future__ import annotations

import subprocess

import pytest

from supervisord_lite.linux.pid_env import SH, through_shell

pytestmark = pytest.mark.timeout(10)


def test_the_program_and_its_arguments_are_positional_parameters_only():
    argv = through_shell([b"WATCHDOG_PID", b"LISTEN_PID"], ["app", "$(x)", "a;b"], "/usr/bin/app")
    assert argv == [
        SH, "-c", 'export WATCHDOG_PID=$$ LISTEN_PID=$$; exec "$@"', "sh", "app", "$(x)", "a;b"
    ]  # fmt: skip
    out = subprocess.run([*argv[:4], "sh", "-c", 'echo "$$ $WATCHDOG_PID $LISTEN_PID"'],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert len(set(out)) == 1  # the program's pid, in both variables


def test_a_leading_dash_goes_as_a_path_and_names_are_checked():
    assert through_shell([b"X"], ["-odd", "1"], "/opt/-odd")[4:] == ["/opt/-odd", "1"]
    for bad in (b"A=B", b"$(x)", b"1X", b""):
        with pytest.raises(ValueError):
            through_shell([bad], ["app"], "/usr/bin/app")
