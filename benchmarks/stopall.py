"""7. stop-all: N sleep programs RUNNING, then `stop all`, as the whole ctl command
(supervisorctl vs supervisorctl-lite) and as one API call on an open connection
(XML-RPC stopAllProcesses(wait=True) vs the lite socket's `stop all`).

Two times for each: until the reply (the command exits, the call returns), and until
every child is dead (each child's pidfd polled: exited counts, reaped or not; the
benchmark's wait costs no CPU). Between repeats everything is started again.
"""

from __future__ import annotations

import subprocess
import threading
import time

from benchmarks.common import Row, Settings, median, wait_dead
from benchmarks.managers import per_manager, sleepers

TIMEOUT = 300


def stop_by_command(mgr, pids: list[int]) -> tuple[float, float]:
    """(until every child is dead, until the command exits), from the command's start."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(mgr.ctl("stop", "all"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        dead = wait_dead(pids, TIMEOUT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    replied = time.perf_counter()
    if proc.returncode != 0:
        raise RuntimeError(f"stop all: exit {proc.returncode}: {err!r}")
    return dead - t0, replied - t0


def stop_by_call(client, pids: list[int]) -> tuple[float, float]:
    """(until every child is dead, until the call returns), from the call."""
    replied: list[float] = []
    failed: list[BaseException] = []

    def call() -> None:
        try:
            client.stop_all()
            replied.append(time.perf_counter())
        except BaseException as exc:  # noqa: B036 -- re-raised in the main thread
            failed.append(exc)

    caller = threading.Thread(target=call)
    t0 = time.perf_counter()
    caller.start()
    try:
        dead = wait_dead(pids, TIMEOUT)
    finally:
        caller.join(TIMEOUT)
    if failed:
        raise failed[0]
    return dead - t0, replied[0] - t0


def measure(kind, n: int, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in ("ctl_dead", "ctl", "api_dead", "api")}
    with kind() as mgr:
        mgr.write_config(sleepers(n))
        mgr.launch()
        client = mgr.client()
        try:
            for i in range(2 * repeats):
                mgr.wait_all_running(client, n, timeout=300, interval=0.05)
                pids = [pid for _, _, pid in client.states()]
                time.sleep(0.5)
                if i % 2 == 0:
                    dead, replied = stop_by_command(mgr, pids)
                    times["ctl_dead"].append(dead)
                    times["ctl"].append(replied)
                else:
                    dead, replied = stop_by_call(client, pids)
                    times["api_dead"].append(dead)
                    times["api"].append(replied)
                states = client.states()
                if any(s not in ("STOPPED", "EXITED") for _, s, _ in states):
                    raise RuntimeError(f"{mgr.label}: not all stopped after stop all")
                client.start_all()
        finally:
            client.close()
    return times


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
    what = f"{n} programs: "
    rows = {
        "ctl_dead": Row("stop-all", what + "`stop all` command start -> every child dead (s)"),
        "ctl": Row("stop-all", what + "`stop all` command wall time (s)"),
        "api_dead": Row("stop-all", what + "stop-all API call -> every child dead (s)"),
        "api": Row("stop-all", what + "stop-all API call (s)"),
    }
    for row in rows.values():
        row.fmt, row.note = "{:.3f}", note
    for label, runs in per_manager(settings, rounds, lambda k: measure(k, n, per_round)).items():
        for key, row in rows.items():
            row.set(label, median([t for times in runs for t in times[key]]))
    base = median([floor(n) for _ in range(rounds * per_round)])
    return [
        *rows.values(),
        Row("stop-all", f"no manager: TERM + reap {n} (s)", fmt="{:.3f}", baseline=base),
    ]
