"""hosts: `supervisorctl-lite -H … status` of 10 daemons on this machine, each a "host"
behind a real sshd on 127.0.0.1 (tests/integration/sshd.py: throwaway keys, nothing
listening beyond loopback), all hosts at once (--parallel 10) against one after another
(--parallel 1). Each host costs an ssh connection (key exchange, authentication, the
forwarded socket), so the figure is mostly OpenSSH's; supervisord has no counterpart.

Run only when named (--only hosts): it needs OpenSSH's sshd, ssh and ssh-keygen.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

from benchmarks.common import Row, Settings, median
from benchmarks.managers import BIN, Lite

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tests"))

HOSTS = 10
PROGRAMS = 10  # per daemon


def status_time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=120)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0 or proc.stdout.count(b"== ") != HOSTS:
        raise RuntimeError(f"{argv}: exit {proc.returncode}: {proc.stderr!r}")
    return elapsed


def run(settings: Settings) -> list[Row]:
    from integration import sshd as sshd_mod

    if not sshd_mod.available():
        return [Row("hosts", "skipped: OpenSSH's sshd/ssh/ssh-keygen not installed")]
    repeats = settings.pick(7, 2)
    server = sshd_mod.Sshd()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        server.start()
        daemons = [stack.enter_context(Lite()) for _ in range(HOSTS)]
        for daemon in daemons:
            daemon.launch_sleepers(PROGRAMS)
        targets = [f"host{i}:{d.socket}" for i, d in enumerate(daemons)]
        env = server.env(dict(os.environ))
        base = [str(BIN / "supervisorctl-lite")]
        for target in targets:
            base += ["-H", target]
        times: dict[int, list[float]] = {HOSTS: [], 1: []}
        status_time([*base, "status"], env)  # warm: known_hosts, page cache
        for _ in range(repeats):
            for parallel in times:  # alternating, so that drift hits both alike
                times[parallel].append(
                    status_time([*base, "--parallel", str(parallel), "status"], env)
                )
    note = f"median of {repeats}, {PROGRAMS} programs each, sshd on 127.0.0.1"
    both = Row("hosts", f"`status` of {HOSTS} hosts over ssh, all at once (ms)", fmt="{:.0f}")
    one = Row("hosts", f"`status` of {HOSTS} hosts over ssh, one at a time (ms)", fmt="{:.0f}")
    both.lite, both.note = median(times[HOSTS]) * 1000, note
    one.lite, one.note = median(times[1]) * 1000, note
    return [both, one]
