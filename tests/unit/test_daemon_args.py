"""The daemon's command line: the hand-parsed usual lines agree with argparse."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from supervisord_lite.daemon import cli
from supervisord_lite.daemon.cli import fast_parse

TOKENS = [["-c", "x.toml"], ["--configuration", "/etc/x.toml"], ["-n"], ["--nodaemon"]]
TOKENS += [["--check"], ["-c", "y.toml"], ["-n"], ["--check"], ["-c"], ["-c", "-n"]]
TOKENS += [["-cx.toml"], ["--configuration=x"], ["--conf", "x"], ["-nc", "x"], ["--"]]
TOKENS += [["x"], ["-h"], ["--version"], ["--print-unit"], ["-c", ""], ["--bogus"]]
TOKENS += [["--wait"]]


def argparse_result(argv):
    try:
        return vars(cli.build_parser().parse_args(argv))
    except SystemExit:
        return "exit"


def test_fast_parse_agrees_with_argparse(capsys):
    accepted = 0
    for n in range(4):
        for parts in itertools.permutations(TOKENS, n):
            argv = [token for part in parts for token in part]
            fast = fast_parse(argv)
            if fast is not None:
                accepted += 1
                assert vars(fast) == argparse_result(argv), argv
    capsys.readouterr()
    assert accepted > 100  # the fast path is actually taken


def test_fast_parse_usual_lines():
    assert vars(fast_parse(["-c", "x.toml"])) == {
        "config": "x.toml",
        "nodaemon": False,
        "check": False,
        "print_unit": False,
        "json": False,
        "wait": False,
    }
    assert fast_parse(["-n", "--check", "-c", "x"]).nodaemon
    for argv in (
        ["--version"],
        ["--print-unit"],
        ["-h"],
        ["-c"],
        ["-c", "-n"],
        ["x"],
        ["--check", "--json"],
    ):
        assert fast_parse(argv) is None, argv  # left to argparse


@pytest.mark.parametrize("argv", [["--bogus"], ["-c"], ["x"], ["-n", "-n", "extra"]])
def test_usage_errors_still_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(argv)
    assert exc.value.code == 2
    assert "usage: supervisord-lite" in capsys.readouterr().err


def test_daemon_does_not_import_argparse_for_a_usual_line():
    code = (
        "import sys\n"
        "from supervisord_lite.daemon import cli\n"
        "cli.parse_args(['-c', 'x.toml', '-n'])\n"
        "print(sorted({'argparse', 'dataclasses', 'inspect'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
