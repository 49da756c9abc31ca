"""11. hooks (docs/lifecycle.md), supervisord_lite only (supervisord has none): what a
hook command costs the daemon.

N programs are started and stopped (`start all`, then `stop all`, each call waiting for
the answer) with an `exec_start_pre` and an `exec_stop_post` of `true` each, and again
without hooks; the daemon's extra CPU over the round, divided by the hooks run, is the
cost of one hook (its spawn, its reap, its pipe, its timeout timer), in ms of CPU.
"""

from __future__ import annotations

import shutil
import time

from benchmarks.common import Row, Settings, cpu_seconds, median
from benchmarks.managers import Lite, Program

TRUE = shutil.which("true") or "/bin/true"


def round_cpu(n: int, hooks: bool) -> float:
    """The daemon's CPU seconds for one start-all + stop-all round of n programs."""
    keys = (("exec_start_pre", [[TRUE]]), ("exec_stop_post", [[TRUE]])) if hooks else ()
    programs = [
        Program(f"p{i:04d}", ["sleep", "100000"], autostart=False, lite_keys=keys) for i in range(n)
    ]
    with Lite() as mgr:
        mgr.write_config(programs)
        mgr.launch()
        client = mgr.client()
        cpu0 = cpu_seconds(mgr.pid)
        client.start_all()
        mgr.wait_all_running(client, n)
        client.stop_all()
        if hooks:  # the exec_stop_post of the last ones may still run
            deadline = time.monotonic() + 60
            while any(p.get("hook") for p in client.status()):
                if time.monotonic() > deadline:
                    raise RuntimeError("hooks still running after 60 s")
                time.sleep(0.01)
        used = cpu_seconds(mgr.pid) - cpu0
        client.close()
    return used


def run(settings: Settings) -> list[Row]:
    n = settings.pick(200, 20)
    rounds = settings.pick(3, 1)
    with_hooks = [round_cpu(n, True) for _ in range(rounds)]
    without = [round_cpu(n, False) for _ in range(rounds)]
    per_hook = (median(with_hooks) - median(without)) / (2 * n)
    row = Row(
        "hooks",
        "daemon CPU per hook command (ms)",
        fmt="{:.3f}",
        note=f"{n} programs x 2 hooks, median of {rounds}",
    )
    row.set("supervisord_lite", 1000 * per_hook)
    base = Row("hooks", f"start+stop {n} programs without hooks: daemon CPU (ms)", fmt="{:.1f}")
    base.set("supervisord_lite", 1000 * median(without))
    return [row, base]
