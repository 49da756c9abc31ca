"""convert: Supervisor's [unix_http_server] / [inet_http_server] become [xmlrpc] (SPEC §12),
so Supervisor's clients find the daemon where they found supervisord."""

from __future__ import annotations

import pytest

from supervisord_lite.base.passwords import verify_password
from supervisord_lite.config.load import load_config
from supervisord_lite.convert import converter

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

pytestmark = pytest.mark.timeout(60)


def convert(tmp_path, text: str) -> tuple[dict, list[str], str]:
    ini = tmp_path / "supervisord.conf"
    ini.write_text(
        f"[supervisord]\npidfile={tmp_path}/s.pid\n{text}\n[program:a]\ncommand=/bin/sleep 1000\n"
    )
    out, warnings = converter.convert(str(ini), {})
    toml = tmp_path / "out.toml"
    toml.write_text(out)
    return tomllib.loads(out), [str(w) for w in warnings], str(toml)


def test_unix_socket_serves_xmlrpc_at_supervisors_path(tmp_path):
    doc, warnings, path = convert(
        tmp_path,
        f"[unix_http_server]\nfile={tmp_path}/sv.sock\n"
        "chmod=0770\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_"
        "factory = supervisor.rpcinterface:make_main_rpcinterface\n",
    )
    assert doc["xmlrpc"] == {"listen": f"unix://{tmp_path}/sv.sock"}
    assert doc["supervisord"]["socket"] == f"{tmp_path}/sv.lite.sock"
    assert doc["supervisord"]["socket_mode"] == 0o770
    assert any("supervisorctl-lite's socket is" in w for w in warnings), warnings
    assert not any("rpcinterface" in w for w in warnings), warnings
    config = load_config(path)
    assert config.xmlrpc.path == f"{tmp_path}/sv.sock"


def test_inet_password_becomes_a_hash(tmp_path):
    doc, warnings, path = convert(
        tmp_path, "[inet_http_server]\nport=:9001\nusername=admin\npassword=s3cret\n"
    )
    assert doc["xmlrpc"]["listen"] == "0.0.0.0:9001"
    stored = doc["xmlrpc"]["users"]["admin"]
    assert verify_password("s3cret", stored) and "s3cret" not in stored
    assert any("now a PBKDF2 hash in users.admin" in w for w in warnings), warnings
    config = load_config(path)  # an open port with users: valid
    assert (config.xmlrpc.host, config.xmlrpc.port) == ("0.0.0.0", 9001)


@pytest.mark.parametrize(
    "section, why",
    [
        (
            "port=*:9001\nusername=admin\npassword={SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4\n",
            "hash-password",
        ),
        ("port=9001\n", "no username/password"),
    ],
)
def test_an_open_port_without_a_usable_password_is_narrowed_to_loopback(tmp_path, section, why):
    doc, warnings, path = convert(tmp_path, f"[inet_http_server]\n{section}")
    assert doc["xmlrpc"]["listen"] == "127.0.0.1:9001"
    assert "users" not in doc["xmlrpc"]
    assert any(why in w for w in warnings), warnings
    load_config(path)  # passes --check


def test_both_servers_serve_the_unix_socket(tmp_path):
    doc, warnings, _ = convert(
        tmp_path,
        f"[unix_http_server]\nfile={tmp_path}/sv.sock\n[inet_http_server]\nport=127.0.0.1:9001\n",
    )
    assert doc["xmlrpc"] == {"listen": f"unix://{tmp_path}/sv.sock"}
    assert any("[inet_http_server] port: not served" in w for w in warnings), warnings
