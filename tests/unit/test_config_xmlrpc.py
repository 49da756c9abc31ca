"""The [xmlrpc] table (SPEC §12): a Unix socket or a TCP listen, the [http] rules for TCP,
every mistake an error naming the key."""

from __future__ import annotations

import pytest

from supervisord_lite.base.passwords import hash_password
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError

pytestmark = pytest.mark.timeout(30)


def load(tmp_path, table: str):
    path = tmp_path / "c.toml"
    path.write_text(f'[supervisord]\nsocket = "s.sock"\n[xmlrpc]\n{table}\n')
    return load_config(str(path))


def errors(tmp_path, table: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, table)
    return "\n".join(caught.value.errors)


def test_unix_and_tcp(tmp_path):
    config = load(tmp_path, 'listen = "unix://x.sock"').xmlrpc
    assert config.path == str(tmp_path / "x.sock") and config.host is None
    assert config.server_url == f"unix://{tmp_path}/x.sock"
    config = load(tmp_path, 'listen = "127.0.0.1:9001"\nrequest_timeout = 2').xmlrpc
    assert (config.host, config.port, config.request_timeout) == ("127.0.0.1", 9001, 2)
    assert config.server_url == "http://127.0.0.1:9001"
    assert config.addresses == ("127.0.0.1", "::1")
    users = f'users = {{ admin = "{hash_password("pw", iterations=1000)}" }}'
    config = load(tmp_path, f'listen = ":9001"\n{users}').xmlrpc
    assert config.host == "0.0.0.0" and config.server_url == "http://127.0.0.1:9001"


@pytest.mark.parametrize(
    "table, message",
    [
        ("", "xmlrpc.listen: required"),
        ('listen = "0.0.0.0:9001"', 'xmlrpc.listen: "0.0.0.0:9001" is reachable beyond'),
        ('listen = "unix://s.sock"', "xmlrpc.listen: the control socket's path"),
        ('listen = "unix://"', 'xmlrpc.listen: expected "unix:///path/to/xmlrpc.sock"'),
        ('listen = "nine"', 'xmlrpc.listen: expected "HOST:PORT"'),
        (
            'listen = "unix://x.sock"\nusers = { a = "pbkdf2_sha256$1000$c2FsdA==$'
            'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }',
            "xmlrpc.users: a Unix socket",
        ),
        ('listen = "unix://x.sock"\nfoo = 1', "xmlrpc.foo: unknown key"),
        ('listen = "unix://x.sock"\nrequest_timeout = 0', "xmlrpc.request_timeout"),
    ],
)
def test_mistakes_name_the_key(tmp_path, table, message):
    assert message in errors(tmp_path, table)


def test_the_daemon_loads_no_xml_rpc_without_the_table(tmp_path):
    """Zero cost unless configured: the running daemon's modules and a config without
    [xmlrpc] load neither xmlrpc.client nor the XML-RPC server."""
    import subprocess
    import sys

    path = tmp_path / "c.toml"
    path.write_text('[programs.a]\ncommand = ["sleep", "1"]\n')
    code = (
        "import sys\n"
        "from supervisord_lite.daemon import running\n"
        "from supervisord_lite.config.load import load_config\n"
        f"load_config({str(path)!r})\n"
        "print(sorted(m for m in sys.modules if 'xmlrpc' in m or m == 'xml.parsers.expat'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_stdin_pipe_and_a_socket_on_stdin_are_refused_together(tmp_path):
    """Both want fd 0 (`fg` would write into a listening socket): one error naming it."""
    path = tmp_path / "c.toml"
    path.write_text(
        '[sockets.web]\nlisten = "tcp://127.0.0.1:18123"\n'
        '[programs.a]\ncommand = "cat"\nstdin = true\nstdin_socket = "web"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert "programs.a.stdin: stdin = true and stdin_socket both want fd 0" in "\n".join(
        caught.value.errors
    )
