"""superlance's memmon and httpok (PyPI, not ours) as real event listeners
([listeners.NAME]) that call back over [xmlrpc] with SUPERVISOR_SERVER_URL: memmon
restarts a memory hog, httpok a server that stopped answering."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from integration.harness import free_port, helper, to_toml, wait_until
from supervisord_lite.config.keys import TOP_KEYS

BIN = Path(sys.executable).parent
pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not (BIN / "memmon").exists(), reason="superlance is not installed"),
    pytest.mark.skipif("listeners" not in TOP_KEYS, reason="no [listeners.NAME] yet"),
]

HUNG_SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
held = []
while True:
    conn, _ = s.accept()
    held.append(conn)  # accepted, never answered: a hung server
"""


def start(daemon, programs: dict, listeners: dict) -> None:
    tables = {f"programs.{name}": keys for name, keys in programs.items()}
    tables.update({f"listeners.{name}": keys for name, keys in listeners.items()})
    daemon.write_config(to_toml(tables))
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[xmlrpc]\nlisten = "unix://{daemon.dir / "xr.sock"}"\n')
    daemon.start()


def test_memmon_restarts_a_memory_hog(daemon):
    hog = {"command": helper("hog", "--mb", 80), "startsecs": 0, "autorestart": False}
    memmon = {"command": [str(BIN / "memmon"), "-p", "hog=40MB"], "events": ["TICK_5"]}
    start(daemon, {"hog": hog}, {"memmon": memmon})
    first = daemon.wait_state("hog", "RUNNING")["pid"]
    wait_until(
        lambda: daemon.status("hog")["hog"]["pid"] not in (None, first),
        30,
        message="memmon to restart the hog over XML-RPC",
    )
    assert daemon.state("memmon") == "RUNNING"
    assert "RSS of hog:hog is" in daemon.read_log("memmon", "stderr")


def test_httpok_restarts_a_hung_server(daemon):
    port = free_port()
    web = {"command": [sys.executable, "-c", HUNG_SERVER, str(port)], "startsecs": 0}
    httpok = {
        "command": [str(BIN / "httpok"), "-p", "web", "-t", "1", f"http://127.0.0.1:{port}/"],
        "events": ["TICK_5"],
    }
    start(daemon, {"web": web}, {"httpok": httpok})
    first = daemon.wait_state("web", "RUNNING")["pid"]
    wait_until(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True, 10)
    wait_until(
        lambda: daemon.status("web")["web"]["pid"] not in (None, first),
        30,
        message="httpok to restart the hung server over XML-RPC",
    )
    assert daemon.state("httpok") == "RUNNING"
