"""The ctl's cheap start-up paths: finding the socket without the config module, and
parsing common command lines without argparse (to the same result argparse gives)."""

import itertools
import os
import subprocess
import sys

import pytest

from supervisord_lite.base import paths, protocol
from supervisord_lite.ctl import parse
from supervisord_lite.ctl.client import Unreachable, socket_path
from supervisord_lite.ctl.parse import fast_parse

pytestmark = pytest.mark.timeout(60)

PROGRAMS = "".join(
    f'[programs.p{i}]\ncommand = ["sleep", "1"]\nautorestart = true\n\n' for i in range(5)
)


def sock_for(tmp_path, text: str, name: str = "c.toml") -> str:
    config = tmp_path / name
    config.write_text(text)
    return socket_path(parse.Args(socket=None, config=str(config)))


def test_socket_when_supervisord_is_first(tmp_path):
    text = f'[supervisord]\nsocket = "run/d.sock"\nlog_dir = "logs"\n\n{PROGRAMS}'
    assert sock_for(tmp_path, text) == str(tmp_path / "run/d.sock")


def test_socket_when_supervisord_comes_after_the_programs(tmp_path):
    text = f'{PROGRAMS}[supervisord]\nsocket = "after.sock"\n'
    assert sock_for(tmp_path, text) == str(tmp_path / "after.sock")


def test_default_socket_when_absent(tmp_path):
    assert sock_for(tmp_path, PROGRAMS) == str(tmp_path / paths.DEFAULT_SOCKET)
    assert sock_for(tmp_path, '[supervisord]\nlog_dir = "x"\n' + PROGRAMS) == str(
        tmp_path / paths.DEFAULT_SOCKET
    )
    assert sock_for(tmp_path, "") == str(tmp_path / paths.DEFAULT_SOCKET)


def test_relative_socket_resolves_against_the_config_directory(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    monkeypatch.chdir(tmp_path)
    config = os.path.join("etc", "c.toml")
    (tmp_path / config).write_text('[supervisord]\nsocket = "../s/x.sock"\n' + PROGRAMS)
    got = socket_path(parse.Args(socket=None, config=config))
    assert os.path.normpath(got) == str(tmp_path / "s" / "x.sock")
    (tmp_path / config).write_text('[supervisord]\nsocket = "/abs/x.sock"\n')
    assert socket_path(parse.Args(socket=None, config=config)) == "/abs/x.sock"


def test_invalid_program_table_below_supervisord_still_finds_the_socket(tmp_path):
    text = '[supervisord]\nsocket = "ok.sock"\n\n[programs.bad]\ncommand = [unterminated\n'
    assert sock_for(tmp_path, text) == str(tmp_path / "ok.sock")
    # also when the head needs tomllib (an escape in the value)
    text = '[supervisord]\nsocket = "o\\u006b.sock"\n\n[programs.bad]\ncommand = ="\n'
    assert sock_for(tmp_path, text) == str(tmp_path / "ok.sock")


@pytest.mark.parametrize(
    "head, expected",
    [
        ("[supervisord]\nsocket = 'lit.sock' # comment\n", "lit.sock"),
        ('[ "supervisord" ]\n"socket" = "q.sock"\n', "q.sock"),
        ('supervisord.socket = "dotted.sock"\n', "dotted.sock"),
        ('supervisord = { socket = "inline.sock" }\n', "inline.sock"),
        ('[supervisord]\nsocket = "a\\tb.sock"\n', "a\tb.sock"),
        ('[supervisord]\n# socket = "commented.sock"\nsocket_mode = 0o600\n', None),
        ('[supervisord]\nx = """\n[programs.fake]\n"""\nsocket = "ml.sock"\n', "ml.sock"),
        ('[supervisord.sub]\nsocket = "sub.sock"\n', None),
        ('[other]\nsocket = "other.sock"\n[supervisord]\nsocket = "sd.sock"\n', "sd.sock"),
    ],
)
def test_socket_agrees_with_tomllib(tmp_path, head, expected):
    """The plain-line reader and tomllib give the same answer, tomllib deciding the
    cases the reader cannot."""
    got = sock_for(tmp_path, head + "\n" + PROGRAMS)
    assert got == str(tmp_path / (expected or paths.DEFAULT_SOCKET))


def test_socket_errors_name_the_file(tmp_path):
    with pytest.raises(Unreachable, match="nope.toml: no such config file"):
        socket_path(parse.Args(socket=None, config=str(tmp_path / "nope.toml")))
    with pytest.raises(Unreachable, match=r"cannot read .*broken\.toml to find the socket"):
        sock_for(tmp_path, "[supervisord\nsocket = 1\n", "broken.toml")
    with pytest.raises(Unreachable, match=r"cannot read .*bin\.toml to find the socket"):
        (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
        socket_path(parse.Args(socket=None, config=str(tmp_path / "bin.toml")))


def test_socket_option_wins():
    assert socket_path(parse.Args(socket="/x.sock", config=None)) == "/x.sock"


def test_ctl_imports_neither_config_nor_heavy_modules(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[supervisord]\nsocket = "s.sock"\n' + PROGRAMS)
    code = (
        "import sys\n"
        "at_start = set(sys.modules)\n"
        "from supervisord_lite.ctl import client, parse\n"
        f"client.socket_path(parse.parse_args(['-c', {str(config)!r}, 'status']))\n"
        "heavy = {'supervisord_lite.config', 'argparse', 'tomllib', 'dataclasses', 'typing'}\n"
        "print(sorted(heavy & (set(sys.modules) - at_start)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- command lines -----------------------------------------------------------------------

PREFIXES = [[], ["-c", "x.toml"], ["-s", "/s"], ["--json"], ["-c", "x", "--json"]]
PREFIXES += [["--json", "-s", "/s"], ["-c", "a", "-s", "b"], ["-c", "a", "-c", "b"]]
PREFIXES += [["--conf", "x"], ["-cx"], ["-c"], ["-c", "-x"], ["--json", "--json"], ["-h"]]
WORDS = [[], ["web"], ["web", "db"], ["TERM", "web"], ["web", "stderr"], ["web", "stdout"]]
WORDS += [["--json"], ["web", "--json"], ["-f", "web"], ["-n", "5", "web"], ["-1"], [""]]
WORDS += [["--", "web"], ["-h"], ["a", "b", "c"], ["web", "stdout", "x"]]
COMMANDS = [*protocol.COMMANDS, "bogus", "stat"]


def argparse_result(argv):
    try:
        return vars(parse.build_parser().parse_args(argv))
    except SystemExit:
        return "exit"


@pytest.mark.parametrize("prefix", PREFIXES, ids=" ".join)
def test_fast_parse_agrees_with_argparse(prefix, capsys):
    accepted = 0
    for command, words in itertools.product(COMMANDS, WORDS):
        argv = [*prefix, command, *words]
        fast = fast_parse(argv)
        if fast is not None:
            accepted += 1
            assert vars(fast) == argparse_result(argv), argv
    assert fast_parse(prefix) is None  # no command: argparse's usage error
    capsys.readouterr()
    if prefix in ([], ["-c", "x.toml"], ["--json"]):
        assert accepted > 20  # the fast path is actually taken


def test_fast_parse_common_lines():
    args = fast_parse(["-c", "x.toml", "status"])
    assert vars(args) == {
        "config": "x.toml",
        "socket": None,
        "json": False,
        "command": "status",
        "names": [],
        "timeout": 10.0,  # --timeout's default: never given on the fast path
        "hosts": None,  # the -H options: never given on the fast path
        "hosts_file": None,
        "parallel": 16,
        "connect_timeout": 10.0,
    }
    assert fast_parse(["-H", "web1", "status"]) is None  # argparse parses -H
    assert fast_parse(["tail", "-f", "web"]) is None  # argparse handles options
    assert fast_parse(["status", "--help"]) is None


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["tail", "-h"]])
def test_help_is_argparse_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse.parse_args(argv)
    assert exc.value.code == 0
    assert "usage: supervisorctl-lite" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["bogus"], ["start"], ["-c", "a", "-s", "b", "status"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse.parse_args(argv)
    assert exc.value.code == 2
    assert "usage: supervisorctl-lite" in capsys.readouterr().err


# --- paths / protocol --------------------------------------------------------------------


def test_paths_imports_only_os():
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import supervisord_lite.base.paths\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "['supervisord_lite', 'supervisord_lite.base', 'supervisord_lite.base.paths']"
    )


def test_request_is_a_small_value():
    req = protocol.Request(1, "status", {"names": []})
    assert req == protocol.Request(1, "status", {"names": []})
    assert req != protocol.Request(2, "status", {"names": []})
    assert protocol.Request(1, "pid").args == {}
    assert repr(req) == "Request(id=1, cmd='status', args={'names': []})"
    with pytest.raises(AttributeError):
        req.other = 1
