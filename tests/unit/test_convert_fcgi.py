"""convert carries [fcgi-program:x] over (SPEC §6, §11): socket= as [sockets.x], the
program's stdin_socket, socket_owner / socket_mode kept; the TOML loads."""

from __future__ import annotations

import sys

from supervisord_lite.config.load import load_config
from supervisord_lite.convert.converter import convert

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def run(tmp_path, ini: str):
    path = tmp_path / "supervisord.conf"
    path.write_text(f"[supervisord]\nlogfile={tmp_path}/s.log\n" + ini)
    text, warnings = convert(str(path), {})
    return text, [str(w) for w in warnings]


def test_a_unix_fcgi_socket_becomes_a_held_socket_on_stdin(tmp_path):
    text, _ = run(
        tmp_path,
        f"""
[fcgi-program:php]
command=/bin/cat
socket=unix://{tmp_path}/%(program_name)s.sock
socket_owner=nobody
socket_mode=0770
socket_backlog=64
numprocs=2
process_name=%(program_name)s_%(process_num)d
""",
    )
    doc = tomllib.loads(text)
    assert doc["sockets"]["php"] == {
        "listen": f"unix://{tmp_path}/php.sock",
        "mode": "0770",
        "owner": "nobody",
        "backlog": 64,
    }
    assert doc["programs"]["php"]["stdin_socket"] == "php"
    out = tmp_path / "out.toml"
    out.write_text(text.replace(f"{tmp_path}/s.log", f"{tmp_path}/d.log"))
    config = load_config(str(out))
    program = config.programs["php"]
    assert program.stdin_socket.path == f"{tmp_path}/php.sock"
    assert program.stdin_socket.mode == 0o770 and program.numprocs == 2


def test_supervisors_default_mode_is_kept_and_localhost_is_an_address(tmp_path):
    text, warnings = run(
        tmp_path,
        f"""
[fcgi-program:u]
command=/bin/cat
socket=unix://{tmp_path}/u.sock
[fcgi-program:t]
command=/bin/cat
socket=tcp://localhost:9000
socket_mode=0700
""",
    )
    doc = tomllib.loads(text)
    assert doc["sockets"]["u"]["mode"] == "0700"  # Supervisor's default, not ours
    assert doc["sockets"]["t"] == {"listen": "tcp://127.0.0.1:9000"}
    assert any("[fcgi-program:t] socket_mode: applies to a unix:// socket only" in w
               for w in warnings), warnings  # fmt: skip
    assert not any("is not created" in w for w in warnings), warnings


def test_a_host_name_is_kept_and_flagged(tmp_path):
    text, warnings = run(
        tmp_path, "[fcgi-program:t]\ncommand=/bin/cat\nsocket=tcp://web.internal:9000\n"
    )
    assert tomllib.loads(text)["sockets"]["t"]["listen"] == "tcp://web.internal:9000"
    assert any("web.internal is a name" in w for w in warnings), warnings
