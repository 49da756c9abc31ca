"""`reexec` in the running image: check that the installed code can take over, then
exec it in place (docs/zero-downtime.md, "Upgrade in place"; docs/architecture.md,
"The takeover sequence").

1. The state so far is written to a memfd, and the installed code runs as a child,
   `python -m supervisord_lite --takeover-check FD`: it imports every module of the daemon, reads
   the state and loads the config. Only its `OK` lets the daemon go on; anything else
   (a syntax error in an upgraded package, a state version it does not read, a config
   that no longer loads) is the request's error reply, and nothing has changed.
2. Then, in one step with no loop turn between: RELOADING=1 to systemd; the final
   state (engine/handover.py's snapshot) written; every other client told to ask
   again; the descriptors that must survive made inheritable; the daemon's signals
   blocked (the mask and what arrives meanwhile survive the exec, and the new image
   unblocks them once its handlers are in place, so a SIGTERM in between is not a
   death); and execve of the same interpreter with the same command line. The pid,
   and with it every child and the pidfile's flock, stays.
3. The new image (daemon/takeover.py) answers the request itself once it is ready.

It must not restore anything: takeover.py does.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Protocol

from supervisord_lite import __version__
from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.control.replies import Replier
from supervisord_lite.daemon import reexec_state
from supervisord_lite.engine.handover import snapshot
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux.held_sockets import SocketRegistry
from supervisord_lite.linux.loop import EventLoop, now
from supervisord_lite.linux.spawn import retire_spawner
from supervisord_lite.logs import daemon_log
from supervisord_lite.systemd.notify import monotonic_usec, sd_notify

CHECK_TIMEOUT = 60.0  # the check imports the whole package: seconds on a loaded host
_KEPT_OUTPUT = 4096  # of the check's output, the end (a traceback's last lines)
# What the daemon handles by signal: held back from the exec until the new image's
# handlers are in place (loop.on_signal).
BLOCKED = (
    signal.SIGCHLD,
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGUSR2,
)
ASK_AGAIN = "the daemon re-executed itself (reexec) before answering; ask again"


class ReexecHost(Protocol):
    """What reexec needs of the running daemon."""

    config: object
    foreground: bool
    loop: EventLoop
    supervisor: Supervisor
    server: object  # control.server.ControlServer: its clients are told to ask again
    reloading: bool
    listen_sock: socket.socket  # the control socket
    pidfile_fd: int  # its flock is held by the open file: it must never be let go
    socket_inode: tuple[int, int] | None
    held_sockets: SocketRegistry


def handover_fds(host: ReexecHost) -> dict:
    """The daemon's own descriptors that survive the exec, by role (the children's
    pipes and the requester's connection are added per request)."""
    return {
        "control": host.listen_sock.fileno(),
        "pidfile": host.pidfile_fd,
        "sockets": host.held_sockets.held(),  # [sockets.*]: linux/held_sockets.py
    }


def command_line() -> list[str]:
    """The daemon's own command line, run afresh by the same interpreter: the installed
    package is what `-m supervisord_lite` finds now (an upgrade included)."""
    return [sys.executable, "-m", "supervisord_lite", *sys.argv[1:]]


class Reexec:
    """One reexec at a time: the check child, then the exec."""

    def __init__(self, host: ReexecHost):
        self.host = host
        self.pending: tuple[Replier, object] | None = None
        self._check: _Check | None = None

    def request(self, client: Replier, req_id: object) -> None:
        host = self.host
        if self.pending is not None:
            client.fail(req_id, protocol.BUSY, "a reexec is already under way")
            return
        busy = self._busy()
        if busy:
            client.fail(req_id, protocol.BUSY, f"{busy}; try again once it is done")
            return
        try:
            fd = reexec_state.write(self._document(final=False, reply=None))
        except (OSError, reexec_state.StateError) as exc:
            client.fail(req_id, protocol.REEXEC_FAILED, f"cannot write the state: {exc}")
            return
        self.pending = (client, req_id)
        requested = now()
        log.info("reexec requested: checking that the installed code can take over")
        try:
            self._check = _Check(host, fd, lambda ok, why: self._checked(ok, why, requested))
        except OSError as exc:
            self._fail(f"cannot run the takeover check: {exc.strerror or exc}")

    def _busy(self) -> str | None:
        """What must finish before an exec: its state is in no document."""
        if self.host.reloading:
            return "a reload is under way"
        rolls = getattr(self.host.supervisor, "rolls", None)  # restart --rolling
        if rolls is not None and (rolls.under_way or rolls.retiring):
            return "a rolling restart is under way (or a replaced process is still exiting)"
        return None

    def _checked(self, ok: bool, why: str, requested: float) -> None:
        self._check = None
        if not ok:
            self._fail(f"the installed code cannot take over; still running: {why}")
        elif self.host.supervisor.shutting_down:
            self._fail("the daemon is shutting down")
        elif self._busy():
            self._fail(f"{self._busy()} (begun during the check); try again once it is done")
        else:
            self._exec(requested)

    def _fail(self, reason: str) -> None:
        log.error("reexec failed: %s", reason)
        if self.pending is not None:
            client, req_id = self.pending
            self.pending = None
            client.fail(req_id, protocol.REEXEC_FAILED, reason)

    def _document(self, final: bool, reply: tuple | None, requested: float = 0.0) -> dict:
        host = self.host
        processes, pipe_fds = snapshot(host.supervisor, final)
        fds = handover_fds(host)
        fds["reply"] = reply[0] if reply else None
        fds["pipes"] = pipe_fds
        cgroups = host.supervisor.cgroups
        return reexec_state.new_document(
            daemon_version=__version__,
            pid=os.getpid(),
            config=host.config.path,
            control_inode=list(host.socket_inode) if host.socket_inode else None,
            # What the held sockets listen on: the check binds only what is new.
            socket_listens={n: h.config.listen for n, h in host.held_sockets.sockets.items()},
            foreground=host.foreground,
            fds=fds,
            reply_id=reply[1] if reply else None,
            requested=requested,
            cgroups=None if cgroups is None else cgroups.describe(),
            **processes,
        )

    def _exec(self, requested: float) -> None:
        host = self.host
        client, req_id = self.pending
        reply = None if client.closed else (client.fd, req_id)
        sd_notify("RELOADING=1", monotonic_usec())
        record = host.supervisor.record
        if record is not None and record.dirty:
            record.write()  # should the exec go wrong, the next daemon finds every child
        try:
            document = self._document(True, reply, requested)
            fd = reexec_state.write(document)
        except (OSError, reexec_state.StateError) as exc:  # no memory for a memfd...
            sd_notify("READY=1")
            self._fail(f"cannot write the state: {exc}")
            return
        _tell_others(host.server, client)
        if reply is not None:
            client.flush()
        retire_spawner()  # a spawn helper's children are ours before the new image starts
        kept = [fd, *_fds(document["fds"])]
        for each in kept:
            os.set_inheritable(each, True)
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
        argv = command_line()
        log.info("reexec: executing %s", " ".join(argv))
        daemon_log.flush()
        env = dict(os.environ)
        env[reexec_state.ENV] = str(fd)
        try:
            os.execve(argv[0], argv, env)
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            for each in kept:
                os.set_inheritable(each, False)
            os.close(fd)
            sd_notify("READY=1")
            self._fail(f"cannot execute {argv[0]}: {exc.strerror}")


def _fds(fds: dict) -> list[int]:
    """Every descriptor the document names, whatever its role."""
    found = []
    for value in fds.values():
        if isinstance(value, int):
            found.append(value)
        elif isinstance(value, list):
            found.extend(value)
        elif isinstance(value, dict):
            found.extend(value.values())
    return found


def _tell_others(server, requester: Replier) -> None:
    """Every other client: a request still waiting gets an error saying to ask again;
    then the exec closes its connection (a stream simply ends)."""
    for client in list(server.clients):
        if client is requester:
            continue
        for key in list(client.awaiting):
            client.fail(key, protocol.BUSY, ASK_AGAIN)
        client.flush()


class _Check:
    """The takeover check child: its output read on the loop, its exit awaited."""

    def __init__(self, host: ReexecHost, state_fd: int, done):
        self.host = host
        self.state_fd = state_fd
        self.done = done
        self.output = bytearray()
        read_end, write_end = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)  # the check speaks for nobody to systemd
        argv = command_line()[:3] + ["--takeover-check", str(state_fd)]
        os.set_inheritable(state_fd, True)
        try:
            self.pid = os.posix_spawn(
                argv[0],
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, write_end, 1),
                    (os.POSIX_SPAWN_DUP2, write_end, 2),
                ],
                setsid=True,
            )
        except OSError:
            os.close(read_end)
            os.close(state_fd)
            raise
        finally:
            os.close(write_end)
        os.set_inheritable(state_fd, False)
        self.read_end = read_end
        host.loop.add_reader(read_end, self._read)
        host.supervisor.watch_exit(self.pid, self._exited)
        self.timer = host.loop.call_later(CHECK_TIMEOUT, self._too_slow)

    def _read(self) -> None:
        try:
            data = os.read(self.read_end, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.host.loop.remove_reader(self.read_end)
            return
        self.output += data
        del self.output[:-_KEPT_OUTPUT]

    def _too_slow(self) -> None:
        self.output += f"\nno answer within {CHECK_TIMEOUT:g}s; killed".encode()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _exited(self, exitstatus: int) -> None:
        self.timer.cancel()
        self._read_rest()
        self.host.loop.remove_reader(self.read_end)
        os.close(self.read_end)
        os.close(self.state_fd)
        text = self.output.decode(errors="replace").strip()
        if exitstatus == 0 and text.startswith("OK"):
            self.done(True, text)
            return
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        why = " | ".join(lines[-4:]) or "it printed nothing"
        self.done(False, f"takeover check exited with status {exitstatus}: {why}")

    def _read_rest(self) -> None:
        """What the check wrote before exiting (a grandchild holding the pipe aside)."""
        while True:
            try:
                data = os.read(self.read_end, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data
            del self.output[:-_KEPT_OUTPUT]
