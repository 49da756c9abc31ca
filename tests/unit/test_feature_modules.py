"""Modules the daemon loads only when its config asks for them: each module is memory
the daemon holds for its whole life (docs/benchmarks.md, memory). A running daemon whose
config uses none of these, and that has answered status, has loaded none of them.

Only what the config decides at start (or at a reload) may be left out, and what only a
fresh process runs: a module loaded at a request's need would come from the files on
disk, which an upgrade waiting for `reexec` may have replaced
(tests/integration/test_upgrade_on_disk.py)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(60)

# what decides -> the modules only it needs
FEATURE_MODULES = {
    "[xmlrpc]": ["supervisord_lite.daemon.xmlrpc_service"],
    "[http]": ["supervisord_lite.http.service"],
    "being the new image of a reexec, or its check": ["supervisord_lite.daemon.takeover"],
    "an unknown event type's suggestion": ["difflib"],
}

PROBE = """
import json, sys, threading
from supervisord_lite.daemon.cli import main
names = json.loads(sys.argv[1])
def report():
    import time
    time.sleep(float(sys.argv[2]))
    print(json.dumps(sorted(n for n in names if n in sys.modules)), flush=True)
threading.Thread(target=report, daemon=True).start()
sys.argv = ["supervisord-lite", "-n", "-c", sys.argv[3]]
sys.exit(main())
"""


def test_a_daemon_that_uses_no_feature_loads_none_of_their_modules(tmp_path):
    sock = tmp_path / "s.sock"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[supervisord]\nsocket = "{sock}"\npidfile = "{tmp_path}/d.pid"\n'
        f'logfile = "{tmp_path}/d.log"\n'
        '[programs.a]\ncommand = ["sleep", "300"]\nstartsecs = 0\n'
    )
    names = [m for modules in FEATURE_MODULES.values() for m in modules]
    # The daemon runs in the foreground in a child; a thread (in that child only, for
    # this test) reports its modules once status has been answered.
    child = subprocess.Popen(
        [sys.executable, "-c", PROBE, json.dumps(names), "3", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert time.monotonic() < deadline, "the daemon never made its socket"
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(sock))
            conn.sendall(b'{"id": 1, "cmd": "status"}\n')
            assert b'"ok":true' in conn.makefile("rb").readline()
        loaded = json.loads(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    assert loaded == [], {f: [m for m in ms if m in loaded] for f, ms in FEATURE_MODULES.items()}
