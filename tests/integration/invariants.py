"""What must hold of a running daemon whatever was done to it (the stateful and fault tests).

Every check looks from the outside, as a user would: a raw socket request, /proc via
psutil, the pidfile. A transition in flight (a child that just exited and is not reaped
yet, a crasher that respawned between two looks) is not a failure: a problem counts only
if it is still there after a settle period.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import psutil

from integration.harness import Daemon

LIVE = ("STARTING", "RUNNING", "STOPPING")
AT_REST = ("STOPPED", "EXITED", "FATAL")
IN_FLIGHT = ("STARTING", "STOPPING")
STATUS_DEADLINE = 1.0  # the daemon never blocks: status is answered within this, always
SETTLE = 5.0  # the longest we wait for a transition to finish before looking
PERSIST = 2.0  # how long a problem may last before it is one (e.g. a zombie not yet reaped)


class Connection:
    """One control connection speaking the JSON-lines protocol, with a deadline per reply."""

    def __init__(self, path: Any, timeout: float):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def send(self, request_id: Any, cmd: str, args: dict | None = None) -> None:
        req: dict[str, Any] = {"id": request_id, "cmd": cmd}
        if args is not None:
            req["args"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")

    def read_reply(self, deadline: float) -> dict:
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no reply before the deadline")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the daemon closed the connection before replying")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        self.sock.close()


def request(daemon: Daemon, cmd: str, args: dict | None = None, timeout: float = 1.0) -> dict:
    """One request on a fresh connection; the reply must arrive within `timeout` seconds."""
    conn = Connection(daemon.socket, timeout)
    try:
        conn.send(1, cmd, args)
        return conn.read_reply(time.monotonic() + timeout)
    finally:
        conn.close()


def status_now(daemon: Daemon) -> list[dict]:
    """`status` over a raw socket; failing unless answered within STATUS_DEADLINE."""
    started = time.monotonic()
    try:
        reply = request(daemon, "status", timeout=STATUS_DEADLINE)
    except (OSError, ValueError) as exc:
        raise AssertionError(
            f"the daemon did not answer status within {STATUS_DEADLINE}s "
            f"({type(exc).__name__}: {exc}; {time.monotonic() - started:.2f}s)\n"
            f"daemon log:\n{daemon.log_tail()}"
        ) from exc
    assert reply.get("ok") is True, f"status failed: {reply}"
    for item in reply["result"]:
        if item.get("pid"):
            daemon.known_pids.add(int(item["pid"]))
    return reply["result"]


def settle(daemon: Daemon, timeout: float = SETTLE) -> list[dict]:
    """Wait (bounded) until no process is STARTING or STOPPING; the last status either way."""
    deadline = time.monotonic() + timeout
    while True:
        items = status_now(daemon)
        if not any(i["state"] in IN_FLIGHT for i in items) or time.monotonic() >= deadline:
            return items
        time.sleep(0.05)


def tree_problems(daemon_pid: int, items: list[dict]) -> list[str]:
    """What is wrong between status and the daemon's real children (empty when consistent)."""
    problems: list[str] = []
    try:
        daemon_proc = psutil.Process(daemon_pid)
        children = daemon_proc.children()
    except psutil.NoSuchProcess:
        return [f"the daemon (pid {daemon_pid}) is gone"]
    by_pid: dict[int, str] = {}
    for item in items:
        pid = item.get("pid")
        if item["state"] in LIVE and not pid:
            problems.append(f"{item['name']} is {item['state']} but has no pid")
        if not pid:
            continue
        if item["state"] not in LIVE:
            problems.append(f"{item['name']} is {item['state']} but still shows pid {pid}")
        if pid in by_pid:
            problems.append(f"pid {pid} is claimed by both {by_pid[pid]} and {item['name']}")
        by_pid[pid] = item["name"]
        problems.extend(_live_problems(daemon_pid, item["name"], pid))
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                problems.append(f"zombie child {child.pid} (status says {by_pid.get(child.pid)})")
            elif child.pid not in by_pid:
                problems.append(
                    f"untracked child {child.pid} of the daemon: {' '.join(child.cmdline())}"
                )
        except psutil.NoSuchProcess:
            pass
    return problems


def _live_problems(daemon_pid: int, name: str, pid: int) -> list[str]:
    try:
        proc = psutil.Process(pid)
        ppid = proc.ppid()
        zombie = proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return [f"{name}: status says pid {pid}, which is not alive"]
    if ppid != daemon_pid:
        return [f"{name}: pid {pid} is a child of {ppid}, not of the daemon ({daemon_pid})"]
    if zombie:
        return [f"{name}: pid {pid} is a zombie the daemon has not reaped"]
    return []


def assert_consistent(daemon: Daemon, expected_names: set[str] | None = None) -> list[dict]:
    """Settle, then require status and the process tree to agree (for PERSIST seconds)."""
    settle(daemon)
    deadline = time.monotonic() + PERSIST
    while True:
        items = status_now(daemon)
        problems = tree_problems(daemon.pid, items)
        names = {i["name"] for i in items}
        if expected_names is not None and names != expected_names:
            problems.append(
                f"status lists {sorted(names)}, the config has {sorted(expected_names)}"
            )
        if not problems:
            return items
        if time.monotonic() >= deadline:
            raise AssertionError(
                "the daemon's view and its process tree disagree:\n  "
                + "\n  ".join(problems)
                + f"\nstatus: {json.dumps(items)}\ndaemon log:\n{daemon.log_tail(40)}"
            )
        time.sleep(0.1)


def assert_shutdown_leaves_nothing(daemon: Daemon, deadline: float = 20.0) -> None:
    """`shutdown` replies within `deadline`, the daemon exits, and none of its tree is left."""
    daemon_pid = daemon.pid
    try:
        reply = request(daemon, "shutdown", timeout=deadline)
    except (OSError, ValueError) as exc:
        raise AssertionError(
            f"shutdown did not reply within {deadline}s ({type(exc).__name__}: {exc})\n"
            f"status/log:\n{daemon.log_tail(40)}"
        ) from exc
    assert reply.get("ok") is True and reply["result"] == {"shutdown": True}, reply
    gone = _wait(lambda: not _alive(daemon_pid), 5.0)
    assert gone, f"the daemon (pid {daemon_pid}) is still running after shutdown replied"
    if not _wait(lambda: not _live_leftovers(daemon), 5.0):
        desc = [f"{p.pid} {' '.join(p.cmdline())}" for p in _live_leftovers(daemon)]
        raise AssertionError("processes left after shutdown:\n" + "\n".join(desc))
    assert not os.path.exists(daemon.socket), "shutdown left the socket behind"
    assert not os.path.exists(daemon.pidfile), "shutdown left the pidfile behind"


def _live_leftovers(daemon: Daemon) -> list[psutil.Process]:
    return [p for p in daemon.processes() if _alive(p.pid)]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
