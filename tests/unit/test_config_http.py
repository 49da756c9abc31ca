"""[http]: golden errors for what the loader refuses, and the password hashes."""

from __future__ import annotations

import textwrap

import pytest

from supervisord_lite.base import passwords
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError
from supervisord_lite.http import login

pytestmark = pytest.mark.timeout(30)

PROGRAM = '[programs.a]\ncommand = "sleep 1"\n'
HASH = passwords.hash_password("pw", iterations=1000)


def load(tmp_path, monkeypatch, http: str):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.toml").write_text(PROGRAM + "[http]\n" + textwrap.dedent(http))
    try:
        return load_config("example.toml", check_logs=False), []
    except ConfigError as exc:
        return None, exc.errors


@pytest.mark.parametrize(
    "listen, addresses",
    [("127.0.0.1:9001", ("127.0.0.1", "::1")), ("localhost:9001", ("127.0.0.1", "::1")),
     ("[::1]:9001", ("::1", "127.0.0.1")), ("127.0.0.2:9001", ("127.0.0.2",))],
)  # fmt: skip
def test_a_loopback_listen_takes_both_families(tmp_path, monkeypatch, listen, addresses):
    """A client of `localhost` may try ::1 first: that port must be ours too."""
    config, errors = load(tmp_path, monkeypatch, f'listen = "{listen}"\n')
    assert errors == [] and config.http.addresses == addresses
    assert config.http.urls == " and ".join(
        f"http://{a if ':' not in a else f'[{a}]'}:9001/" for a in addresses
    )


def test_no_http_table_means_no_server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.toml").write_text(PROGRAM)
    assert load_config("example.toml", check_logs=False).http is None


@pytest.mark.parametrize(
    "listen, host, port",
    [("127.0.0.1:9001", "127.0.0.1", 9001), ("[::1]:80", "::1", 80),
     ("localhost:9", "127.0.0.1", 9)],
)  # fmt: skip
def test_listen_forms(tmp_path, monkeypatch, listen, host, port):
    config, errors = load(tmp_path, monkeypatch, f'listen = "{listen}"\n')
    assert errors == []
    assert (config.http.host, config.http.port, config.http.read_only) == (host, port, False)


@pytest.mark.parametrize(
    "http, message",
    [
        ('listen = "0.0.0.0:9001"\n',
         'example.toml: http.listen: "0.0.0.0:9001" is reachable beyond this host: set users '
         "(see supervisord-lite hash-password) or token_file, or listen on 127.0.0.1"),
        ('listen = ":9001"\n', 'example.toml: http.listen: ":9001" is reachable beyond'),
        ('listen = "[::]:9001"\n', 'example.toml: http.listen: "[::]:9001" is reachable beyond'),
        ('listen = "127.0.0.1"\n', 'example.toml: http.listen: expected "HOST:PORT"'),
        ('listen = "::1:80"\n', "example.toml: http.listen: write an IPv6 address in brackets"),
        ('listen = "example.com:80"\n', "example.toml: http.listen: expected an IP address"),
        ('users = { admin = "secret" }\n',
         "example.toml: http.users.admin: expected a password hash pbkdf2_sha256$"),
        ('certfile = "c.pem"\n', "example.toml: http.keyfile: TLS needs both certfile and keyfile"),
        ('token_file = "nope"\n', "example.toml: http.token_file: cannot read "),
        ("read_onyl = true\n",
         'example.toml: http.read_onyl: unknown key (did you mean "read_only"?)'),
    ],
)  # fmt: skip
def test_refused(tmp_path, monkeypatch, http, message):
    config, errors = load(tmp_path, monkeypatch, http)
    assert config is None
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_beyond_loopback_with_users_or_token(tmp_path, monkeypatch):
    config, errors = load(
        tmp_path, monkeypatch, f'listen = "0.0.0.0:9001"\nusers = {{ a = "{HASH}" }}\n'
    )
    assert errors == [] and config.http.users == (("a", HASH),)
    token = tmp_path / "token"
    token.write_text("x" * 32 + "\n")
    token.chmod(0o644)
    _, errors = load(tmp_path, monkeypatch, 'listen = "0.0.0.0:9001"\ntoken_file = "token"\n')
    assert errors == [
        f"example.toml: http.token_file: {token} is readable by others (mode 0o644); chmod 600 it"
    ]
    token.chmod(0o600)
    config, errors = load(tmp_path, monkeypatch, 'listen = "0.0.0.0:9001"\ntoken_file = "token"\n')
    assert errors == [] and config.http.token_file == str(token)


def test_password_hash_round_trip():
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("pbkdf2_sha256$600000$")
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("correct hors", stored)


def test_brakes_slow_the_guessing_client_and_the_name_it_tries():
    """A history: client A guesses wrong for admin; A waits 1, 2, 4 ... 60 s after each
    of its failures, the name admin 1 s, client B nothing for another name."""
    brakes = login.Brakes()
    assert brakes.wait("A", "admin", 0.0) == 0
    brakes.failed("A", "admin", 0.0)
    assert brakes.wait("A", "ops", 0.5) == 0.5  # A itself, for any name
    assert brakes.wait("B", "admin", 0.5) == 0.5  # the name, from any client
    assert brakes.wait("B", "ops", 0.5) == 0  # anyone else: not at all
    assert brakes.wait("B", None, 0.5) == 0  # a token guess has no name
    for at, pause in ((1.0, 2.0), (3.0, 4.0), (7.0, 8.0)):
        brakes.failed("A", "admin", at)
        assert brakes.wait("A", None, at) == pause
    assert brakes.wait("B", "admin", 7.0) == 1.0  # a name's pause does not grow
    for n in range(10):
        brakes.failed("A", None, 100.0 + n)
    assert brakes.wait("A", None, 109.0) == login.CLIENT_PAUSE_MAX
    brakes.succeeded("A")
    assert brakes.wait("A", None, 109.0) == 0


def test_a_token_needs_32_characters(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("x" * 31 + "\n")
    token.chmod(0o600)
    _, errors = load(tmp_path, monkeypatch, 'token_file = "token"\n')
    assert errors == [
        f"example.toml: http.token_file: {token}: the token on its first line has 31 "
        "characters; it must have at least 32 (make one with: openssl rand -hex 32)"
    ]


def test_hash_password_command(tmp_path):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "supervisord_lite", "hash-password"],
                         input="s3cret\n", capture_output=True, text=True, timeout=20)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert passwords.verify_password("s3cret", res.stdout.strip())
