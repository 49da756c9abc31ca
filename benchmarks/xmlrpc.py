"""XML-RPC, the same client on both sides: supervisord's own Unix socket and
supervisord_lite's `[xmlrpc]` one, each asked `getAllProcessInfo` back to back over one
persistent connection (Supervisor's transport, as supervisorctl), with the daemon's CPU
per request; and Supervisor's own `supervisorctl status` run whole against each.
"""

from __future__ import annotations

import subprocess
import time

from benchmarks.common import Row, Settings, daemon_cpu, median
from benchmarks.managers import BIN, Lite, Supervisord, SupervisordClient


class LiteXmlRpc(Lite):
    """supervisord_lite with [xmlrpc] on a Unix socket, driven as supervisord is."""

    def write_config(self, programs) -> None:
        super().write_config(programs)
        self.xmlrpc_socket = str(self.dir / "x.sock")
        with open(self.config, "a") as fh:
            fh.write(f'\n[xmlrpc]\nlisten = "unix://{self.xmlrpc_socket}"\n')

    def client(self) -> SupervisordClient:
        return SupervisordClient(self.xmlrpc_socket)

    def url(self) -> str:
        return f"unix://{self.xmlrpc_socket}"


def _url(mgr) -> str:
    return mgr.url() if isinstance(mgr, LiteXmlRpc) else f"unix://{mgr.socket}"


def round_trips(mgr, seconds: float, n: int) -> tuple[float, float]:
    """(getAllProcessInfo round trips/s, daemon CPU ms per request)."""
    client = mgr.client()
    try:
        assert len(client.status()) == n
        count = 0
        cpu0 = daemon_cpu(mgr.pid)
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            client.status()
            count += 1
        cpu = daemon_cpu(mgr.pid) - cpu0
        return count / elapsed, cpu / count * 1000
    finally:
        client.close()


def supervisorctl_status(mgr, repeats: int) -> list[float]:
    argv = [str(BIN / "supervisorctl"), "-s", _url(mgr), "status"]
    subprocess.run(argv, capture_output=True, timeout=60)  # warm the page cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, timeout=60)
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 3) or not proc.stdout:
            raise RuntimeError(f"{argv}: exit {proc.returncode}: {proc.stdout!r}")
    return times


def measure(kind, n: int, settings: Settings):
    with kind() as mgr:
        mgr.launch_sleepers(n)
        time.sleep(0.5)
        walls = supervisorctl_status(mgr, settings.pick(5, 2))
        return (walls, *round_trips(mgr, settings.pick(2.0, 0.3), n))


def run(settings: Settings) -> list[Row]:
    n, rounds = settings.pick(100, 10), settings.pick(3, 1)
    note = f"{rounds} daemon(s) each, order alternating"
    rtt = Row("xmlrpc", f"getAllProcessInfo round trips/s, {n} programs", better="higher")
    rtt.fmt, rtt.note = "{:.0f}", f"median of {rounds} x {settings.pick(2.0, 0.3):g} s, {note}"
    cpu = Row("xmlrpc", f"daemon CPU per getAllProcessInfo, {n} programs (ms)")
    cpu.fmt, cpu.note = "{:.3f}", rtt.note
    whole = Row("xmlrpc", f"Supervisor's `supervisorctl status` wall time, {n} programs (ms)")
    whole.fmt, whole.note = "{:.1f}", f"median of {settings.pick(5, 2) * rounds}, {note}"
    kinds = [Supervisord, LiteXmlRpc] if settings.with_supervisord else [LiteXmlRpc]
    results: dict[str, list] = {kind.label: [] for kind in kinds}
    for repeat in range(rounds):
        for kind in kinds if repeat % 2 == 0 else kinds[::-1]:
            results[kind.label].append(measure(kind, n, settings))
    for label, runs in results.items():
        whole.set(label, median([w for walls, _, _ in runs for w in walls]) * 1000)
        rtt.set(label, median([r for _, r, _ in runs]))
        cpu.set(label, median([c for _, _, c in runs]))
    return [rtt, cpu, whole]
