"""rolling: a client hammers a web server while it is restarted; counted are refused
connections, failed requests and the longest time without a served request.

supervisord: `restart` (stop, then start) of a server that binds its own port, which
is all Supervisor offers. supervisord_lite: the same server behind a held socket
(`[sockets.web]`, LISTEN_FDS), `restart --rolling`: one process (surge), and four
(numprocs = 4, one at a time; no supervisord side: its processes cannot share a port).
Each run: warm-up requests, then the restart under load, then more requests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

from benchmarks.common import Row, Settings, median
from benchmarks.managers import Lite, Program, per_manager

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web_server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Load:
    """Threads sending GET / over a fresh connection each, until stopped."""

    def __init__(self, port: int, threads: int = 4):
        self.port = port
        self.served = self.refused = self.failed = 0
        self.longest_gap = 0.0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        self._last = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def wait_served(self, count: int, timeout: float = 30.0) -> None:
        target, deadline = self.served + count, time.monotonic() + timeout
        while self.served < target and time.monotonic() < deadline:
            time.sleep(0.01)

    def _run(self) -> None:
        while not self._stop.is_set():
            outcome = self._one()
            with self._lock:
                if outcome == "ok":
                    self.served += 1
                    now = time.monotonic()
                    self.longest_gap = max(self.longest_gap, now - self._last)
                    self._last = now
                elif outcome == "refused":
                    self.refused += 1
                else:
                    self.failed += 1

    def _one(self) -> str:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
        except ConnectionRefusedError:
            time.sleep(0.001)  # a closed port answers at once: do not spin
            return "refused"
        except OSError:
            return "failed"
        return "ok" if data.startswith(b"HTTP/1.0 200") else "failed"


def measure(kind, numprocs: int = 1) -> tuple[int, int, float]:
    """(refused, failed, longest gap in ms) over one restart under load."""
    port = free_port()
    program = Program("web", [sys.executable, SERVER, str(port)], startsecs=1,
                      lite_keys=(("sockets", ["web"]), ("numprocs", numprocs)))  # fmt: skip
    with kind() as mgr:
        mgr.write_config([program])
        if kind is Lite:
            with open(mgr.config, "a") as f:
                f.write(f'\n[sockets.web]\nlisten = "tcp://127.0.0.1:{port}"\n')
        mgr.launch()
        client = mgr.client()
        try:
            mgr.wait_all_running(client, numprocs)
        finally:
            client.close()
        with Load(port) as load:
            load.wait_served(100)
            restart = ["restart", "--rolling", "web"] if kind is Lite else ["restart", "web"]
            subprocess.run(mgr.ctl(*restart), capture_output=True, timeout=120, check=True)
            load.wait_served(100)
        return load.refused, load.failed, load.longest_gap * 1000


def run(settings: Settings) -> list[Row]:
    repeats = settings.pick(3, 1)
    note = f"4 client threads, a fresh connection per request; median of {repeats}"
    rows = {
        "refused": Row("rolling", "refused connections during the restart", fmt="{:.0f}",
                       note=note),
        "failed": Row("rolling", "failed requests during the restart", fmt="{:.0f}", note=note),
        "gap": Row("rolling", "longest time without a served request (ms)", fmt="{:.1f}",
                   note=note),
    }  # fmt: skip
    results = per_manager(settings, repeats, measure)
    for label, runs in results.items():
        for index, key in enumerate(("refused", "failed", "gap")):
            rows[key].set(label, median([r[index] for r in runs]))
    four = [measure(Lite, numprocs=4) for _ in range(repeats)]
    how = "numprocs = 4, restart --rolling; supervisord's processes cannot share a port"
    extra = [
        Row("rolling", "4 processes: refused connections", lite=median([r[0] for r in four]),
            fmt="{:.0f}", note=how, lite_only=True),
        Row("rolling", "4 processes: failed requests", lite=median([r[1] for r in four]),
            fmt="{:.0f}", note=how, lite_only=True),
        Row("rolling", "4 processes: longest gap (ms)", lite=median([r[2] for r in four]),
            fmt="{:.1f}", note=how, lite_only=True),
    ]  # fmt: skip
    return [*rows.values(), *extra]
