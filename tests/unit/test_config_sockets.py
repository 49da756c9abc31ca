"""[sockets.NAME] and the program keys that name them (SPEC §11): every mistake is an
error naming the file, the table and the key."""

from __future__ import annotations

import pytest

from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError


def load(tmp_path, body: str):
    path = tmp_path / "c.toml"
    path.write_text(f'[supervisord]\nlog_dir = "{tmp_path}"\n' + body)
    return load_config(str(path))


def errors(tmp_path, body: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, body)
    return str(info.value)


def test_tcp_ipv6_and_unix_sockets_load(tmp_path):
    config = load(
        tmp_path,
        """
[sockets.web]
listen = "tcp://127.0.0.1:8000"
[sockets.six]
listen = "tcp://[::1]:8001"
backlog = 16
[sockets.u]
listen = "unix://run/app.sock"
mode = "0600"
[programs.a]
command = "sleep 1"
sockets = ["web", "six"]
stdin_socket = "u"
reload_signal = "HUP"
""",
    )
    a = config.programs["a"]
    assert [s.name for s in a.sockets] == ["web", "six"]
    assert (a.sockets[1].host, a.sockets[1].port, a.sockets[1].backlog) == ("::1", 8001, 16)
    assert a.stdin_socket.path == str(tmp_path / "run/app.sock") and a.stdin_socket.mode == 0o600
    assert a.reload_signal == 1
    assert a.sockets[0].backlog > 0  # SOMAXCONN by default


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('listen = "localhost:80"', 'sockets.s.listen: expected "tcp://HOST:PORT"'),
        ('listen = "tcp://localhost:80"', "sockets.s.listen: expected an IP address"),
        ('listen = "tcp://::1:80"', "write an IPv6 address in brackets"),
        ('listen = "tcp://127.0.0.1:0"', "expected a port 1..65535"),
        ('listen = "tcp://127.0.0.1:80"\nmode = "0600"', "sockets.s.mode: applies to a unix"),
        ('listen = "unix:///tmp/x"\nowner = "no-such-user-x"', 'unknown user "no-such-user-x"'),
        ('listen = "unix:///tmp/x"\nbacklog = 0', "sockets.s.backlog"),
        ('listen = "unix:///tmp/x"\nlisten_on = 1', "sockets.s.listen_on: unknown key"),
        ("backlog = 5", "sockets.s.listen: required key missing"),
    ],
)
def test_bad_socket_tables_are_errors_naming_the_key(tmp_path, table, message):
    body = f'[sockets.s]\n{table}\n[programs.a]\ncommand = "sleep 1"\nsockets = ["s"]\n'
    assert message in errors(tmp_path, body)


def test_unknown_and_repeated_socket_names_are_errors(tmp_path):
    text = errors(
        tmp_path,
        """
[sockets.web]
listen = "tcp://127.0.0.1:8000"
[programs.a]
command = "sleep 1"
sockets = ["web", "web", "nope"]
stdin_socket = "gone"
""",
    )
    assert 'programs.a.sockets[1]: socket "web" is named twice' in text
    assert 'programs.a.sockets[2]: unknown socket "nope"' in text
    assert 'programs.a.stdin_socket: unknown socket "gone"' in text


def test_two_tables_on_one_address_are_an_error(tmp_path):
    text = errors(
        tmp_path,
        """
[sockets.a]
listen = "tcp://127.0.0.1:8000"
[sockets.b]
listen = "tcp://127.0.0.1:8000"
[programs.p]
command = "sleep 1"
sockets = ["a", "b"]
""",
    )
    assert "sockets.b.listen: listens on the same address as [sockets.a]" in text


def test_numprocs_share_a_socket_and_unused_tables_are_a_warning(tmp_path):
    config = load(
        tmp_path,
        """
[sockets.web]
listen = "tcp://127.0.0.1:8000"
[sockets.spare]
listen = "tcp://127.0.0.1:8001"
[programs.a]
command = "sleep 1"
numprocs = 4
sockets = ["web"]
""",
    )
    assert config.programs["a"].numprocs == 4
    assert any("[sockets.spare]" in w for w in config.warnings)


def test_a_changed_socket_changes_the_programs_that_name_it(tmp_path):
    body = (
        '[sockets.web]\nlisten = "tcp://127.0.0.1:{}"\n'
        '[programs.a]\ncommand = "sleep 1"\nsockets = ["web"]\n'
    )
    first = load(tmp_path, body.format(8000)).programs["a"]
    same = load(tmp_path, body.format(8000)).programs["a"]
    moved = load(tmp_path, body.format(8001)).programs["a"]
    assert first == same and first != moved


def test_a_socket_name_that_could_not_go_into_listen_fdnames_is_an_error(tmp_path):
    text = errors(tmp_path, '[sockets."a:b"]\nlisten = "tcp://127.0.0.1:8000"\n')
    assert 'sockets."a:b": invalid socket name' in text
