"""`reexec` in the new image: the takeover check, and taking over what the previous
image handed on (daemon/reexec.py has the sequence; docs/architecture.md too).

- `check_main`: `supervisord-lite --takeover-check FD`, run by the old image as a
  child before it lets go. It imports every module of the daemon in the installed
  package (a syntax error anywhere fails here, not after the exec), reads the state and loads
  the config; prints `OK VERSION` and exits 0, or prints why and exits 1.
- `adopt_descriptors`: the pidfile (its flock held all along), the control socket and
  the held sockets, from the state, in place of claiming them afresh.
- `answer`: the reexec request's reply, sent by the new image once it is ready.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sys

import supervisord_lite
from supervisord_lite import __version__
from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError
from supervisord_lite.config.sockets import used_sockets
from supervisord_lite.daemon import reexec_state
from supervisord_lite.daemon.reexec import BLOCKED
from supervisord_lite.engine.handover import restore
from supervisord_lite.engine.recovery import ChildRecord, children_path
from supervisord_lite.linux import cgroups, held_sockets
from supervisord_lite.linux.loop import now

# Never imported by the check: the entry points run their main at import.
_SKIP = {"__main__"}
# Nor the tools the daemon never loads (the ctl's `top` needs an optional extra).
_NOT_THE_DAEMONS = ("supervisord_lite.ctl", "supervisord_lite.convert")


def check_main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: supervisord-lite --takeover-check FD", file=sys.stderr)
        return 2
    broken = _import_everything()
    if broken:
        print(broken, file=sys.stderr)
        return 1
    try:
        state = reexec_state.read(int(argv[0]))
        config = load_config(state["config"])
        unbound = _new_sockets_unbound(config, state.get("socket_listens") or {})
    except reexec_state.StateError as exc:
        print(f"state: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print("config: " + "; ".join(exc.errors), file=sys.stderr)
        return 1
    if unbound:
        print(unbound, file=sys.stderr)
        return 1
    print(f"OK {__version__}")
    return 0


def _new_sockets_unbound(config, held: dict[str, str]) -> str | None:
    """A [sockets.*] table the config has added since that cannot be bound now (the
    new image binds it at the takeover, where a failure could only end it): the
    reason. The ones held already are handed over, never bound again."""
    held_listens = set(held.values())
    for name, wanted in used_sockets(config.programs.values()).items():
        if wanted.listen in held_listens:
            continue
        try:
            held_sockets.bind(wanted).close()
        except OSError as exc:
            return f"[sockets.{name}]: cannot listen on {wanted.listen}: {exc.strerror or exc}"
    return None


def _import_everything() -> str | None:
    """Import every module of the installed package; the first failure, told."""
    import pkgutil  # the check child's alone: the daemon never walks its package

    prefix = supervisord_lite.__name__ + "."
    for module in pkgutil.walk_packages(supervisord_lite.__path__, prefix, onerror=_raise):
        if module.name.rpartition(".")[2] in _SKIP or module.name.startswith(_NOT_THE_DAEMONS):
            continue
        try:
            importlib.import_module(module.name)
        except SyntaxError as exc:
            return f"{exc.filename}, line {exc.lineno}: SyntaxError: {exc.msg}"
        except Exception as exc:
            return f"importing {module.name}: {type(exc).__name__}: {exc}"
    return None


def _raise(name: str) -> None:
    if not name.startswith(_NOT_THE_DAEMONS):
        raise ImportError(f"cannot import {name}")


def adopt_descriptors(daemon, state: dict) -> None:
    """What `Daemon.prepare` claims, taken from the previous image instead."""
    fds = state["fds"]
    daemon.pidfile_fd = fds["pidfile"]
    daemon.listen_sock = socket.socket(fileno=fds["control"])
    inode = state.get("control_inode")
    daemon.socket_inode = tuple(inode) if inode else None
    if fds.get("sockets"):
        daemon.held_sockets.adopt(fds["sockets"])  # linux/held_sockets.py: kept by address


def adopt_table(daemon, state: dict) -> None:
    """Start-up after a reexec, once the loop, servers and signal handlers exist: the
    previous image's children, pipes, counters and timers taken over
    (engine/handover.py); nobody stopped, nothing started but programs added to the
    config since."""
    supervisor = daemon.supervisor
    log.info(
        "supervisord-lite %s took over from %s with pid %d (%s): %d processes",
        __version__,
        state.get("daemon_version"),
        os.getpid(),
        daemon.config.path,
        len(state["processes"]),
    )
    tree = cgroups.adopt(state.get("cgroups"))
    if tree is not None:
        supervisor.use_cgroups(tree)
    path = children_path(daemon.config.pidfile)
    supervisor.record = ChildRecord(path, daemon.loop.call_later)
    # The handlers are in place, and a child spawned from here on must not start with
    # them blocked; what arrived during the exec is delivered now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED)
    for process in restore(supervisor, state):
        if process.program.autostart:
            supervisor.start(process)  # added to the config since the last load
    supervisor.reap()  # children that exited during the exec


def answer(state: dict, processes: int) -> None:
    """The reexec request's reply, from the new image, then its connection closed."""
    fd = state["fds"].get("reply")
    if fd is None:
        return
    result = {
        "pid": state["pid"],
        "version": __version__,
        "previous_version": state.get("daemon_version"),
        "processes": processes,
        "seconds": round(max(0.0, now() - state.get("requested", now())), 3),
    }
    sock = socket.socket(fileno=fd)
    try:
        sock.settimeout(2.0)
        sock.sendall(protocol.encode(protocol.ok(state.get("reply_id"), result)))
    except OSError:
        pass  # the requester went away: nobody to tell
    finally:
        sock.close()
