"""10. readiness and health (docs/health.md), supervisord_lite only (supervisord has no
readiness; superlance's httpok is not installed here):

- readiness latency: a program sends READY=1 (or opens its port, probed every 0.1 s);
  time from that moment (the child's own clock reading just before) to its dependent
  leaving STOPPED for STARTING, from the `events` stream; median of many starts.
- cost: the daemon's CPU, as % of one core, with 100 programs each health-probed over
  tcp every 1 s, and with 100 http probes a second (1 s interval), against one
  http.server program.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from pathlib import Path

from benchmarks.common import Row, Settings, cpu_seconds, median
from benchmarks.managers import Lite, Program, sleepers

HELPERS = Path(__file__).resolve().parent.parent / "tests" / "helpers"
SENDER = """
import os, socket, sys, time
time.sleep(0.05)
path = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
t = time.time()
s.sendto(b"READY=1", "\\0" + path[1:])
print(f"sent {t:.6f}", flush=True)
time.sleep(100000)
"""
LISTENER = """
import socket, sys, time
time.sleep(0.05)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t = time.time()
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print(f"sent {t:.6f}", flush=True)
time.sleep(100000)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _events(mgr: Lite) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(mgr.socket)
    sock.sendall(b'{"id": 1, "cmd": "events"}\n')
    sock.settimeout(30)
    return sock


def latency(kind: str, runs: int) -> list[float]:
    """Seconds from READY=1 (or listen) to the dependent's STARTING, one per run."""
    port = free_port()
    if kind == "notify":
        svc = Program(
            "svc",
            [sys.executable, "-c", SENDER],
            autostart=False,
            lite_keys=(("ready", {"notify": True}),),
        )
    else:
        svc = Program(
            "svc",
            [sys.executable, "-c", LISTENER, str(port)],
            autostart=False,
            lite_keys=(("ready", {"tcp": f"127.0.0.1:{port}", "interval": 0.1}),),
        )
    dep = Program("dep", ["sleep", "100000"], autostart=False, lite_keys=(("depends_on", ["svc"]),))
    out = []
    with Lite() as mgr:
        mgr.write_config([svc, dep])
        mgr.launch()
        client = mgr.client()
        for _ in range(runs):
            events = _events(mgr)
            reader = events.makefile("rb")
            reader.readline()
            client.start("dep")
            started = None
            while started is None:
                item = json.loads(reader.readline())["result"]
                if item.get("process") == "dep" and item.get("to") == "STARTING":
                    started = item["time"]
            events.close()
            out.append(started - _sent_at(mgr, len(out) + 1))
            client.stop_all()
        client.close()
    return out


def _sent_at(mgr: Lite, nth: int) -> float:
    """The child's clock reading of its nth READY=1 (or listen), once its log has it."""
    deadline = time.monotonic() + 10
    while True:
        logs = mgr.stdout_logs("svc")
        found = re.findall(r"sent (\d+\.\d+)\n", Path(logs[0]).read_text()) if logs else []
        if len(found) >= nth:
            return float(found[nth - 1])
        if time.monotonic() > deadline:
            raise RuntimeError(f"svc logged {len(found)} of {nth} READY=1 times")
        time.sleep(0.01)


def cost(kind: str, n: int, window: float) -> float:
    """The daemon's CPU over window, as % of one core, with n programs probed every 1 s."""
    port = free_port()
    server = Program(
        "server", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    )
    target = f"127.0.0.1:{port}" if kind == "tcp" else f"http://127.0.0.1:{port}/"
    programs = [
        Program(p.name, p.command, lite_keys=(("health", {kind: target, "interval": 1.0}),))
        for p in sleepers(n)
    ]
    with Lite() as mgr:
        mgr.write_config([server, *programs])
        mgr.launch()
        client = mgr.client()
        mgr.wait_all_running(client, n + 1)
        time.sleep(2.0)  # the first round of probes under way
        cpu0 = cpu_seconds(mgr.pid)
        time.sleep(window)
        used = cpu_seconds(mgr.pid) - cpu0
        client.close()
    return 100.0 * used / window


def run(settings: Settings) -> list[Row]:
    runs = settings.pick(40, 5)
    window = settings.pick(20.0, 3.0)
    rows = []
    for kind, note in (("notify", "READY=1"), ("tcp", "port opens; interval 0.1 s")):
        values = latency(kind, runs)
        row = Row(
            "probes",
            f"readiness latency, {note} -> dependent starts (ms)",
            fmt="{:.2f}",
            note=f"median of {runs}",
        )
        row.set("supervisord_lite", 1000 * median(values))
        rows.append(row)
    for kind in ("tcp", "http"):
        row = Row(
            "probes",
            f"100 {kind} health probes/s: daemon CPU (% of a core)",
            fmt="{:.2f}",
            note=f"{window:g} s window",
        )
        row.set("supervisord_lite", cost(kind, 100, window))
        rows.append(row)
    return rows
