"""XML-RPC, the same client on both sides: supervisord's own Unix socket and
supervisord_lite's `[xmlrpc]` one, each asked `getAllProcessInfo` back to back over one
persistent connection (Supervisor's transport, as supervisorctl), with the daemon's CPU
per request; and Supervisor's own `supervisorctl status` run whole against each.
"""

from __future__ import annotations

import time

from benchmarks.common import Row, Settings, command_wall_times, median, status_round_trips
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


def measure(kind, n: int, settings: Settings):
    with kind() as mgr:
        mgr.launch_sleepers(n)
        time.sleep(0.5)
        walls = command_wall_times([str(BIN / "supervisorctl"), "-s", _url(mgr), "status"],
                                   settings.pick(5, 2))  # fmt: skip
        return (walls, *status_round_trips(mgr, settings.pick(2.0, 0.3), n))


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
