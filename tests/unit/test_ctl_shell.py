"""The ctl's new command lines, the shell's parsing and completion tables, and the reload
preview (pure functions)."""

from __future__ import annotations

import argparse
import subprocess

import pytest

from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.ctl import parse
from supervisord_lite.ctl.commands import completion_names
from supervisord_lite.ctl.completion import COMMAND_NAMES, OPTIONS, script
from supervisord_lite.ctl.parse import fast_parse, shell_options
from supervisord_lite.ctl.shell import Shell, candidates
from supervisord_lite.engine.reload import preview

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], {"config": None, "socket": None, "json": False}),
        (["-c", "x.toml"], {"config": "x.toml", "socket": None, "json": False}),
        (["--json", "-s", "/s"], {"config": None, "socket": "/s", "json": True}),
    ],
)
def test_shell_options_when_no_command(argv, expected):
    assert vars(shell_options(argv)) == expected


@pytest.mark.parametrize(
    "argv", [["status"], ["-c"], ["-c", "a", "-s", "b"], ["-h"], ["-c", "a", "avail"]]
)
def test_shell_options_none_when_there_is_more(argv):
    assert shell_options(argv) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["avail"],
        ["clear", "web", "db"],
        ["maintail"],
        ["maintail", "-f", "-n", "5"],
        ["reload"],
        ["reload", "--dry-run"],
        ["completion", "bash"],
    ],
)
def test_new_command_lines_parse_as_argparse_does(argv):
    expected = vars(parse.build_parser().parse_args(argv))
    assert vars(parse.parse_args(argv)) == expected
    fast = fast_parse(argv)
    assert fast is None or vars(fast) == expected


def test_completion_tables_match_the_parser():
    parser = parse.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert COMMAND_NAMES == list(sub.choices)
    for name, subparser in sub.choices.items():
        options = {
            opt
            for action in subparser._actions
            for opt in action.option_strings
            if opt not in ("-h", "--help")
        }
        assert options == set(OPTIONS[name]), name


class NamedShell(Shell):
    """A shell whose daemon knows these names (completion's only question to it)."""

    def __init__(self, names):
        super().__init__(shell_options([]))
        self.asked = 0
        self._names = names

    def names(self):
        self.asked += 1
        return self._names


@pytest.mark.parametrize(
    "line, text, expected",
    [
        ("", "sta", ["status", "start"]),
        ("", "q", ["quit"]),
        ("help", "ma", ["maintail"]),
        ("stop", "web:", ["web:0", "web:1"]),
        ("stop web:0", "", ["web:0", "web:1", "web", "db", "all"]),
        ("signal", "HU", ["HUP"]),
        ("signal HUP", "d", ["db"]),
        ("tail", "d", ["db"]),
        ("tail db", "", ["stdout", "stderr"]),
        ("tail -n 5 db", "std", ["stdout", "stderr"]),
        ("tail db stdout", "", []),
        ("reload", "--", ["--dry-run", "--json"]),
        ("maintail", "-", ["-f", "-n", "--json"]),
        ("completion", "", ["bash", "zsh"]),
        ("version", "", []),
    ],
)
def test_candidates(line, text, expected):
    shell = NamedShell(["web:0", "web:1", "web", "db", "all"])
    assert candidates(shell, line.split(), text) == expected


def test_completion_names_from_status():
    processes = [
        {"name": "web:0", "program": "web"},
        {"name": "web:1", "program": "web"},
        {"name": "q:q_00", "program": "q", "group": "q"},
        {"name": "db", "program": "db", "group": "db"},
    ]
    assert completion_names(processes) == [
        "web:0",
        "web",
        "web:1",
        "q:q_00",
        "q",
        "q:*",
        "db",
        "all",
    ]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script_names_every_command(shell):
    text = script(shell)
    assert "__" not in text.replace("_supervisorctl_lite", "")  # every placeholder filled
    for name in COMMAND_NAMES:
        assert name in text


def test_bash_script_is_valid_bash():
    res = subprocess.run(["bash", "-n"], input=script("bash"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# -- reload preview ----------------------------------------------------------------------


def program(name: str, **keys) -> ProgramConfig:
    return ProgramConfig(name=name, command=("sleep", "1"), **keys)


def config(*programs: ProgramConfig, log_dir: str = "/logs") -> DaemonConfig:
    return DaemonConfig(
        path="/c.toml",
        socket="/s",
        pidfile="/p",
        logfile=None,
        log_dir=log_dir,
        programs={p.name: p for p in programs},
    )


def test_preview_names_the_changed_keys():
    old = {p.name: p for p in (program("a"), program("b"), program("gone"))}
    new = config(program("a"), program("b", startsecs=5, autostart=False), program("new"))
    assert preview(old, "/logs", new) == {
        "added": ["new"],
        "changed": ["b"],
        "scaled": [],
        "removed": ["gone"],
        "keys": {"b": ["autostart", "startsecs"]},
    }


def test_preview_counts_a_moved_log_dir_for_auto_logs_only():
    old = {p.name: p for p in (program("auto"), program("fixed", stdout_logfile="/x.log"))}
    fixed = program("fixed", stdout_logfile="/x.log", stderr_logfile="none")
    new = config(program("auto"), fixed, log_dir="/elsewhere")
    result = preview(old, "/logs", new)
    assert result["changed"] == ["auto", "fixed"]
    assert result["keys"] == {"auto": ["log_dir"], "fixed": ["stderr_logfile"]}
