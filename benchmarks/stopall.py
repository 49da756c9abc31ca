"""7. stop-all: N sleep programs RUNNING; wall time of `stop all`, as the whole ctl
command (supervisorctl vs supervisorctl-lite) and as one API call on an open connection
(XML-RPC stopAllProcesses(wait=True) vs the lite socket's `stop all`, which both return
once every process has stopped). Between repeats everything is started again."""

from __future__ import annotations

import subprocess
import time

from benchmarks.common import Row, Settings, median
from benchmarks.managers import per_manager, sleepers


def measure(kind, n: int, repeats: int) -> tuple[list[float], list[float]]:
    ctl_times, api_times = [], []
    with kind() as mgr:
        mgr.write_config(sleepers(n))
        mgr.launch()
        client = mgr.client()
        try:
            for i in range(2 * repeats):
                mgr.wait_all_running(client, n, timeout=300, interval=0.05)
                time.sleep(0.5)
                t0 = time.perf_counter()
                if i % 2 == 0:
                    proc = subprocess.run(mgr.ctl("stop", "all"), capture_output=True, timeout=300)
                    if proc.returncode != 0:
                        raise RuntimeError(f"stop all: exit {proc.returncode}: {proc.stderr!r}")
                    ctl_times.append(time.perf_counter() - t0)
                else:
                    client.stop_all()
                    api_times.append(time.perf_counter() - t0)
                states = client.states()
                if any(s not in ("STOPPED", "EXITED") for _, s, _ in states):
                    raise RuntimeError(f"{mgr.label}: not all stopped after stop all")
                client.start_all()
        finally:
            client.close()
    return ctl_times, api_times


def floor(n: int) -> float:
    """No manager: SIGTERM N sleep children's groups and reap them all."""
    import os
    import signal

    children = [subprocess.Popen(["sleep", "100000"], start_new_session=True) for _ in range(n)]
    try:
        time.sleep(0.5)
        t0 = time.perf_counter()
        for child in children:
            os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            child.wait()
        return time.perf_counter() - t0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def run(settings: Settings) -> list[Row]:
    n, rounds, per_round = settings.pick(500, 100), settings.pick(3, 1), settings.pick(2, 1)
    note = f"median of {rounds * per_round}: {rounds} daemon(s) each, order alternating"
    ctl = Row("stop-all", f"{n} programs: `stop all` command wall time (s)", fmt="{:.3f}")
    api = Row("stop-all", f"{n} programs: stop-all API call (s)", fmt="{:.3f}")
    ctl.note = api.note = note
    for label, runs in per_manager(settings, rounds, lambda k: measure(k, n, per_round)).items():
        ctl.set(label, median([c for c_times, _ in runs for c in c_times]))
        api.set(label, median([a for _, a_times in runs for a in a_times]))
    base = median([floor(n) for _ in range(rounds * per_round)])
    return [
        ctl,
        api,
        Row("stop-all", f"no manager: TERM + reap {n} (s)", fmt="{:.3f}", baseline=base),
    ]
