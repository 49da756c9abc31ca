"""11. status at a dashboard's pace: N programs, one request every 1.3 s, on a host
running OTHERS unrelated processes (sleeping children of a helper: a busy host's
other processes, which belong to no manager).

At that pace no figure computed for one request is still fresh at the next (a daemon
that keeps whole-host figures for a second answers every request from scratch), and a
cost that grows with the host's processes rather than the daemon's own shows up.
Requests alternate between one API round trip on an open connection (XML-RPC
getAllProcessInfo vs the lite socket's `status`) and a whole `status` command
(supervisorctl vs supervisorctl-lite), each 1.3 s after the previous one ended. The
daemon's CPU is summed over each request's window only (/proc, see common.daemon_cpu),
so supervisord's own 1 s tick between requests is not charged to it.

Both API requests ask the same: states, no CPU or memory figures (getAllProcessInfo has
none). supervisord_lite also answers, paced the same way, `status` with every tree's
figures (what `status --json`, /metrics and the web page ask): a row of its own.
"""

from __future__ import annotations

import subprocess
import time

from benchmarks.common import CpuMeter, Row, Settings, UnrelatedProcesses, median, percentile
from benchmarks.managers import per_manager

PERIOD = 1.3


def measure(kind, n: int, requests: int) -> dict:
    with kind() as mgr:
        mgr.launch_sleepers(n)
        client = mgr.client()
        api_cpu, ctl_cpu, figures_cpu = CpuMeter(mgr.pid), CpuMeter(mgr.pid), CpuMeter(mgr.pid)
        rtts, walls = [], []
        argv = mgr.ctl("status")
        kinds = 3 if hasattr(client, "figures") else 2
        try:
            for i in range(kinds * requests):
                time.sleep(PERIOD)
                if i % kinds == 2:
                    with figures_cpu:
                        client.figures()
                elif i % kinds == 0:
                    with api_cpu:
                        t0 = time.perf_counter()
                        client.status()
                        rtts.append(time.perf_counter() - t0)
                else:
                    with ctl_cpu:
                        t0 = time.perf_counter()
                        proc = subprocess.run(argv, capture_output=True, timeout=60)
                        walls.append(time.perf_counter() - t0)
                    if proc.returncode not in (0, 3) or not proc.stdout:
                        raise RuntimeError(f"{argv}: exit {proc.returncode}: {proc.stderr!r}")
        finally:
            client.close()
        return {
            "rtts": [v * 1000 for v in rtts],
            "walls": [v * 1000 for v in walls],
            "api_cpu": api_cpu.seconds * 1000,
            "ctl_cpu": ctl_cpu.seconds * 1000,
            "figures_cpu": figures_cpu.per_window_ms(),
        }


def run(settings: Settings) -> list[Row]:
    n, others = settings.pick(100, 20), settings.pick(2000, 200)
    rounds, requests = settings.pick(2, 1), settings.pick(10, 2)
    workload = f"paced status: {n} programs, 1 request / {PERIOD:g} s, {others} other processes"
    note = f"{rounds * requests} requests on {rounds} daemon(s) each, order alternating"
    rows = {
        "rtt": Row(workload, "API round trip, median (ms)", fmt="{:.2f}"),
        "rtt95": Row(workload, "API round trip, p95 (ms)", fmt="{:.2f}"),
        "api_cpu": Row(workload, "daemon CPU per API request (ms)", fmt="{:.3f}"),
        "wall": Row(workload, "`status` command wall time, median (ms)", fmt="{:.1f}"),
        "ctl_cpu": Row(workload, "daemon CPU per `status` command (ms)", fmt="{:.3f}"),
        "figures_cpu": Row(
            workload, "daemon CPU per API request with every tree's figures (ms)", fmt="{:.3f}"
        ),
    }
    for row in rows.values():
        row.note = note
    rows["figures_cpu"].lite_only = True
    rows["figures_cpu"].note = f"{note}; supervisord has no such figures"
    with UnrelatedProcesses(others):
        results = per_manager(settings, rounds, lambda kind: measure(kind, n, requests))
    for label, runs in results.items():
        rtts = [v for r in runs for v in r["rtts"]]
        rows["rtt"].set(label, median(rtts))
        rows["rtt95"].set(label, percentile(rtts, 95))
        rows["api_cpu"].set(label, sum(r["api_cpu"] for r in runs) / len(rtts))
        rows["wall"].set(label, median([v for r in runs for v in r["walls"]]))
        rows["ctl_cpu"].set(label, sum(r["ctl_cpu"] for r in runs) / (rounds * requests))
        if label != "supervisord":
            rows["figures_cpu"].set(label, median([r["figures_cpu"] for r in runs]))
    return list(rows.values())
