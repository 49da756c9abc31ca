"""What it costs to start a child with an environment variable holding its own pid
(WATCHDOG_PID, LISTEN_PID): `python -m benchmarks.pid_env [--quick]`.

The daemon's side is what counts (a crash storm is spawns back to back on its one
thread): its CPU per spawn, from getrusage(RUSAGE_SELF) around N spawns of `true`,
each reaped before the next. The child's own extra work (a shell's exec) shows in the
wall time per spawn, until the program has exited. Medians of repeats.

1. no manager: plain posix_spawn (no pid variable: the floor); posix_spawn of the
   `/bin/sh -c 'export WATCHDOG_PID=$$; exec "$@"'` trampoline (what the daemon does);
   Popen with a preexec_fn that execs the program itself with the pid set (the other
   correct way: a real fork, and Python in the child).
2. the daemon's own spawn(): an sd_notify program with watchdog_sec (WATCHDOG_PID) and
   without (NOTIFY_SOCKET and WATCHDOG_USEC only); a program holding a socket
   (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID and fd 3) and the same without.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess

from benchmarks.spawn_costs import compare
from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.config.sockets import SocketConfig
from supervisord_lite.linux.held_sockets import SocketRegistry
from supervisord_lite.linux.pid_env import OWN_PID, through_shell
from supervisord_lite.linux.spawn import spawn

TRUE = shutil.which("true") or "/bin/true"


def floor_methods(env: dict) -> dict:
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, null, 0)]
    trampoline = through_shell([b"WATCHDOG_PID"], ["true"], TRUE)

    def plain() -> int:
        return os.posix_spawn(TRUE, ["true"], env, file_actions=actions, setsid=True)

    def shell() -> int:
        return os.posix_spawn("/bin/sh", trampoline, env, file_actions=actions, setsid=True)

    def exec_with_pid() -> None:  # in the child, between fork and exec
        os.execve(TRUE, ["true"], {**env, b"WATCHDOG_PID": str(os.getpid()).encode()})

    def preexec() -> int:
        child = subprocess.Popen(
            [TRUE], env=env, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=exec_with_pid,
        )  # fmt: skip
        child.returncode = 0  # reaped by measure(), not by Popen
        return child.pid

    return {
        "posix_spawn, no pid variable (floor)": plain,
        "posix_spawn of the /bin/sh trampoline (chosen)": shell,
        "Popen + preexec_fn exec with the pid": preexec,
    }


def daemon_spawns() -> dict:
    program = ProgramConfig(name="w", command=(TRUE,), stdout_logfile="none")
    notify = {b"NOTIFY_SOCKET": b"@x", b"WATCHDOG_USEC": b"5000000"}

    def start(extra: dict):
        return lambda: spawn(program, 0, False, False, extra_env=extra).pid

    # A held socket on an ephemeral port, handed over as the supervisor does it.
    sock = SocketConfig("web", "tcp://127.0.0.1:0", "tcp", host="127.0.0.1", port=0)
    with_socket = program.replace(sockets=(sock,))
    registry = SocketRegistry()
    registry.apply([with_socket])

    def start_with_socket() -> int:
        fds, _, listen_env = registry.handover(with_socket)
        return spawn(with_socket, 0, False, False, extra_env=listen_env, listen_fds=fds).pid

    return {
        "spawn(): no socket": start({}),
        "spawn(): a held socket (fd 3, LISTEN_FDS, LISTEN_PID)": start_with_socket,
        "spawn(): notify, no watchdog_sec": start(notify),
        "spawn(): notify + watchdog_sec (WATCHDOG_PID)": start(
            {**notify, b"WATCHDOG_PID": OWN_PID}
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, repeats = (100, 3) if args.quick else (500, 5)
    env = dict(os.environb)
    methods = {**floor_methods(env), **daemon_spawns()}
    compare(methods, n, repeats, f"{n} spawns of `true`, each reaped before the next")


if __name__ == "__main__":
    main()
