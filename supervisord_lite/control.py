"""The control server: JSON lines on the Unix socket, in the daemon's one selector.

One `cmd_<name>` handler per command. A handler returns its result (sent at once), or
arranges to reply later through `client.reply` (start/stop wait for the outcome:
the reply is parked on a state-change listener, never polled).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import sys
from typing import Callable

from supervisord_lite import __version__, protocol
from supervisord_lite.config import signal_number
from supervisord_lite.logs import Follower, read_tail
from supervisord_lite.loop import EventLoop, Timer, now
from supervisord_lite.ordering import AT_REST
from supervisord_lite.process import Process
from supervisord_lite.protocol import ProtocolError
from supervisord_lite.states import LIVE_STATES, ProcessState, StateChanged
from supervisord_lite.status_json import StatusText
from supervisord_lite.supervisor import Supervisor

log = logging.getLogger("supervisord_lite")
S = ProcessState

# A client that stops reading may hold at most this much of our output; past it we
# drop the client rather than block the loop or grow without bound.
MAX_OUTPUT = 8 * 1024 * 1024
# A tail -f reader further behind than this is dropped with an error.
MAX_FOLLOW_BACKLOG = 4 * 1024 * 1024
# Likewise an `events` subscriber: events are small, so this is thousands behind.
MAX_EVENTS_BACKLOG = 256 * 1024
_UCRED = struct.Struct("3i")


class Client:
    def __init__(self, server: ControlServer, sock: socket.socket, uid: int):
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.uid = uid
        self.inbuf = protocol.LineBuffer()
        self.out = bytearray()
        self.closed = False
        self.on_close: list[Callable[[], None]] = []  # unsubscribe streams and waiters
        self.last_request = now()
        self.partial_since: float | None = None  # when the current half-written line began
        self.awaiting: dict = {}  # request id -> count of parked replies not yet sent
        self.streaming = False  # events / tail -f: quiet for hours is normal
        self.timer: Timer | None = None

    def reply(self, req_id, result) -> None:
        self._answered(req_id)
        if isinstance(result, protocol.Raw):
            self._queue(protocol.encode_ok_raw(req_id, result))
        else:
            self.send(protocol.ok(req_id, result))

    def fail(self, req_id, code: str, message: str) -> None:
        self._answered(req_id)
        self.send(protocol.error(req_id, code, message))

    def _answered(self, req_id) -> None:
        key = _key(req_id)
        count = self.awaiting.get(key)
        if count is not None:
            if count <= 1:
                del self.awaiting[key]
            else:
                self.awaiting[key] = count - 1

    def busy(self) -> bool:
        """Waiting on the daemon (a parked reply, a stream): never idle-closed."""
        return self.streaming or bool(self.awaiting)

    def send(self, message: dict) -> None:
        self._queue(protocol.encode(message))

    def _queue(self, line: bytes) -> None:
        if self.closed:
            return
        self.out += line
        if len(self.out) > MAX_OUTPUT:
            log.warning("control: dropping a client that does not read its replies (too slow)")
            self.close()
            return
        self.flush()

    def flush(self) -> None:
        while self.out and not self.closed:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                self.server.loop.add_writer(self.fd, self.flush)
                return
            except OSError:
                self.close()
                return
            del self.out[:sent]
        if not self.closed:
            self.server.loop.remove_writer(self.fd)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        self.server.loop.remove_reader(self.fd)
        self.server.loop.remove_writer(self.fd)
        self.sock.close()
        self.server.clients.discard(self)
        for callback in self.on_close:
            callback()
        self.on_close.clear()


class ControlServer:
    def __init__(
        self,
        sock: socket.socket,
        loop: EventLoop,
        supervisor: Supervisor,
        request_shutdown: Callable[[Client, object], None],
        request_reload: Callable[[Callable[[dict | None, list[str]], None]], None],
        allowed_uids: tuple[int, ...] = (),
        max_clients: int = 1024,
        idle_timeout: float = 600.0,
        line_timeout: float = 10.0,
    ):
        self.sock = sock
        self.loop = loop
        self.supervisor = supervisor
        self.status_text = StatusText(supervisor)
        self.request_shutdown = request_shutdown
        self.request_reload = request_reload
        self.allowed_uids = {0, os.geteuid(), *allowed_uids}
        self.max_clients = max_clients
        self.idle_timeout = idle_timeout
        self.line_timeout = line_timeout
        self.clients: set[Client] = set()
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)
        self.handlers: dict[str, Callable[[Client, protocol.Request], object]] = {
            "status": self.cmd_status,
            "start": self.cmd_start,
            "stop": self.cmd_stop,
            "restart": self.cmd_restart,
            "signal": self.cmd_signal,
            "pid": self.cmd_pid,
            "tail": self.cmd_tail,
            "reload": self.cmd_reload,
            "events": self.cmd_events,
            "shutdown": self.cmd_shutdown,
            "version": self.cmd_version,
        }

    # -- connections --------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(64):  # bounded, so a connection flood cannot starve the loop
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # The pending connection stays queued and the socket readable: pause
                    # accepting for a moment instead of spinning on the error.
                    log.error("control: cannot accept a client: %s", exc.strerror)
                    self.loop.remove_reader(self.sock.fileno())
                    self.loop.call_later(0.5, self._resume_accepting)
                return
            conn.setblocking(False)
            pid, uid, gid = _UCRED.unpack(
                conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
            client = Client(self, conn, uid)
            if uid not in self.allowed_uids:
                log.warning("control: refused a client with uid %d (pid %d)", uid, pid)
                _refuse(client, protocol.FORBIDDEN, f"uid {uid} may not control this daemon")
                continue
            if len(self.clients) >= self.max_clients:
                log.warning("control: refused a client: %d clients already", len(self.clients))
                # Accepted, told why, closed: never left waiting in the backlog, whose
                # overflow would make connect() fail (EAGAIN) or hang.
                message = f"too many clients ({self.max_clients} at most; see max_clients)"
                _refuse(client, protocol.TOO_MANY_CLIENTS, message + "; try again later")
                continue
            self.clients.add(client)
            self.loop.add_reader(client.fd, lambda c=client: self._read(c))
            self._arm_timer(client)

    def replace_socket(self, sock: socket.socket) -> None:
        """Listen on `sock` instead (the old socket file was deleted); the caller closes
        the old one."""
        self.loop.remove_reader(self.sock.fileno())
        sock.setblocking(False)
        self.sock = sock
        self.loop.add_reader(sock.fileno(), self._accept)

    def _resume_accepting(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            client.close()
            return
        if not data:
            client.close()
            return
        try:
            lines = client.inbuf.feed(data)
        except ProtocolError as exc:
            client.fail(None, exc.code, exc.message)
            client.close()
            return
        if lines:
            client.last_request = now()
        if not client.inbuf.pending:
            client.partial_since = None
        elif lines or client.partial_since is None:
            client.partial_since = now()
            if self.line_timeout > 0:
                self._ensure_timer(client, client.partial_since + self.line_timeout)
        for line in lines:
            if client.closed:
                return
            self._handle_line(client, line)

    # -- timeouts: one lazy timer per client, re-armed only when it fires --------------

    def _arm_timer(self, client: Client) -> None:
        """Wake for this client only when a timeout could next be due."""
        deadlines = []
        if self.line_timeout > 0 and client.partial_since is not None:
            deadlines.append(client.partial_since + self.line_timeout)
        if self.idle_timeout > 0:
            base = now() if client.busy() else client.last_request
            deadlines.append(base + self.idle_timeout)
        if deadlines:
            self._ensure_timer(client, min(deadlines))

    def _ensure_timer(self, client: Client, deadline: float) -> None:
        if client.timer is not None and client.timer.when <= deadline:
            return
        if client.timer is not None:
            client.timer.cancel()
        client.timer = self.loop.call_later(deadline - now(), lambda: self._check_timeouts(client))

    def _check_timeouts(self, client: Client) -> None:
        client.timer = None
        if client.closed:
            return
        current = now()
        if (
            self.line_timeout > 0
            and client.partial_since is not None
            and current - client.partial_since >= self.line_timeout
        ):
            log.info("control: closing a client whose request line is unfinished")
            client.fail(None, protocol.TIMEOUT, "request line not finished in time")
            client.close()
            return
        if (
            self.idle_timeout > 0
            and not client.busy()
            and client.partial_since is None
            and current - client.last_request >= self.idle_timeout
        ):
            log.debug("control: closing an idle client")
            client.fail(None, protocol.TIMEOUT, "idle connection closed")
            client.close()
            return
        self._arm_timer(client)

    def _handle_line(self, client: Client, line: bytes) -> None:
        req_id = None
        try:
            request = protocol.decode_request(line)
            req_id = request.id
            if self.supervisor.shutting_down and request.cmd not in ("status", "version", "pid"):
                if request.cmd == "shutdown":
                    self.request_shutdown(client, req_id)
                    return
                raise ProtocolError(protocol.SHUTTING_DOWN, "the daemon is shutting down")
            result = self.handlers[request.cmd](client, request)
        except ProtocolError as exc:
            client.fail(req_id if req_id is not None else exc.req_id, exc.code, exc.message)
            return
        except Exception:
            log.exception("control: internal error handling %r", line[:200])
            client.fail(req_id, protocol.INTERNAL, "internal error; see the daemon's log")
            return
        if result is not _LATER:
            client.reply(req_id, result)
        elif not client.closed and request.cmd not in ("events", "tail"):
            key = _key(req_id)
            client.awaiting[key] = client.awaiting.get(key, 0) + 1

    def close(self) -> None:
        for client in list(self.clients):
            client.flush()
            client.close()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    # -- helpers ------------------------------------------------------------------

    def _resolve(self, request: protocol.Request, required: bool = True):
        names = protocol.arg_names(request.args)
        if required and not names:
            raise ProtocolError(protocol.BAD_ARGUMENT, f"{request.cmd} needs process names")
        processes, unknown = self.supervisor.resolve(names or ["all"])
        return processes, unknown

    @staticmethod
    def _unknown_results(unknown: list[str]) -> list[dict]:
        return [{"name": n, "ok": False, "message": "no such process"} for n in unknown]

    def _wait_started(self, client: Client, processes: list[Process], done) -> None:
        """Call done(results) once every process is RUNNING or has failed to start."""
        outcome: dict[str, dict] = {}

        def settle(process: Process, ok: bool, message: str) -> None:
            outcome.setdefault(process.name, {"name": process.name, "ok": ok, "message": message})

        def listener(process: Process, change: StateChanged | None) -> None:
            if process.name not in waiting:
                return
            if change is None and process.dep_error:
                settle(process, False, process.dep_error)
            elif change is not None and change.new is S.RUNNING:
                settle(process, True, "started")
            elif change is not None and change.new is S.FATAL:
                settle(process, False, self.supervisor.describe(process))
            elif change is not None and change.new in (S.STOPPING, S.STOPPED):
                settle(process, False, "stopped before it finished starting")
            finish_if_done()

        def finish_if_done() -> None:
            if len(outcome) == len(waiting) and listener in self.supervisor.listeners:
                self.supervisor.listeners.remove(listener)
                done([outcome[name] for name in waiting])

        waiting = {p.name: p for p in processes}
        self.supervisor.listeners.append(listener)
        client.on_close.append(
            lambda: (
                listener in self.supervisor.listeners and self.supervisor.listeners.remove(listener)
            )
        )
        for process in processes:
            # A reload may have replaced the slot since the names were resolved (restart
            # waits for a stop first): the one in the table now is the one to start.
            current = self.supervisor.processes.get(process.name) or process
            if current.state is S.RUNNING:
                settle(current, True, "already started")
            elif current.state is S.STOPPING:
                settle(current, False, "is stopping; try again once it has stopped")
            else:
                self.supervisor.start(current)
        finish_if_done()

    # -- commands -----------------------------------------------------------------

    def cmd_status(self, client: Client, request: protocol.Request):
        processes, unknown = self._resolve(request, required=False)
        if unknown:
            raise ProtocolError(protocol.NO_SUCH_PROCESS, f"no such process: {', '.join(unknown)}")
        return protocol.Raw(self.status_text.array(processes, now()))

    def cmd_start(self, client: Client, request: protocol.Request):
        processes, unknown = self._resolve(request)
        self._wait_started(
            client,
            processes,
            lambda results: client.reply(request.id, results + self._unknown_results(unknown)),
        )
        return _LATER

    def cmd_stop(self, client: Client, request: protocol.Request):
        processes, unknown = self._resolve(request)
        self._stop(
            processes,
            lambda results: client.reply(request.id, results + self._unknown_results(unknown)),
        )
        return _LATER

    def _stop(self, processes: list[Process], done) -> None:
        was_live = {p.name for p in processes if p.state in LIVE_STATES or p.state is S.BACKOFF}

        def finished() -> None:
            done(
                [
                    {
                        "name": p.name,
                        "ok": p.state in AT_REST,
                        "message": "stopped" if p.name in was_live else "not running",
                    }
                    for p in processes
                ]
            )

        self.supervisor.stop_many(processes, finished)

    def cmd_restart(self, client: Client, request: protocol.Request):
        processes, unknown = self._resolve(request)

        def start_again(_stopped) -> None:
            self._wait_started(
                client,
                processes,
                lambda results: client.reply(request.id, results + self._unknown_results(unknown)),
            )

        self._stop(processes, start_again)
        return _LATER

    def cmd_signal(self, client: Client, request: protocol.Request):
        raw = request.args.get("signal")
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise ProtocolError(
                protocol.BAD_ARGUMENT, '"signal" must be a name like "HUP" or a number'
            )
        try:
            signum = signal_number(raw)
        except ValueError as exc:
            raise ProtocolError(protocol.BAD_ARGUMENT, str(exc)) from None
        processes, unknown = self._resolve(request)
        results = [
            {"name": p.name, "ok": ok, "message": "signalled" if ok else "not running"}
            for p in processes
            for ok in [self.supervisor.send_signal(p, signum)]
        ]
        return results + self._unknown_results(unknown)

    def cmd_pid(self, client: Client, request: protocol.Request):
        name = request.args.get("name")
        if name is None:
            return os.getpid()
        if not isinstance(name, str):
            raise ProtocolError(protocol.BAD_ARGUMENT, '"name" must be a string')
        processes, unknown = self.supervisor.resolve([name])
        if unknown or not processes:
            raise ProtocolError(protocol.NO_SUCH_PROCESS, f"no such process: {name}")
        if len(processes) > 1:
            names = ", ".join(p.name for p in processes)
            raise ProtocolError(protocol.BAD_ARGUMENT, f"{name} has several processes: {names}")
        return processes[0].pid

    def cmd_tail(self, client: Client, request: protocol.Request):
        name = protocol.arg_str(request.args, "name")
        stream = protocol.arg_str(request.args, "stream", "stdout")
        lines = protocol.arg_int(request.args, "lines", 10)
        follow = protocol.arg_bool(request.args, "follow")
        if stream not in ("stdout", "stderr"):
            raise ProtocolError(protocol.BAD_ARGUMENT, '"stream" must be "stdout" or "stderr"')
        process = self.supervisor.processes.get(name)
        if process is None:
            raise ProtocolError(protocol.NO_SUCH_PROCESS, f"no such process: {name}")
        path = process.program.logfile_path(
            stream, process.name, process.num, self.supervisor.config.log_dir
        )
        if path is None:
            raise ProtocolError(protocol.BAD_ARGUMENT, f"{name} has no {stream} log")
        try:
            data = read_tail(path, lines).decode("utf-8", "replace")
            if not follow:
                return {"path": path, "data": data}
            follower = Follower(
                self.supervisor.open_log(process, stream),
                lambda text: self._send_tail(client, request.id, text),
                on_retired=lambda f: self.loop.call_soon(
                    lambda: self._reattach(client, request.id, f, name, stream)
                ),
                on_error=lambda message: self._end_tail(client, request.id, message),
            )
        except OSError as exc:
            raise ProtocolError(protocol.LOG_ERROR, _unreadable(name, stream, path, exc)) from None
        client.on_close.append(follower.close)
        client.streaming = True
        client.reply(request.id, {"path": path, "data": data})
        return _LATER

    def _reattach(self, client: Client, req_id, follower: Follower, name: str, stream: str):
        """A reload re-created the followed process: follow its new log, or say why not."""
        if follower.closed or client.closed:
            return
        process = self.supervisor.processes.get(name)
        if process is None:
            follower.close()
            self._end_tail(client, req_id, f"{name} was removed by reload; tail -f ends", True)
            return
        logfile = self.supervisor.open_log(process, stream)
        if logfile is None:
            follower.close()
            self._end_tail(client, req_id, f"{name} has no {stream} log since the reload")
            return
        try:
            follower.attach(logfile)
        except OSError as exc:
            follower.close()
            self._end_tail(client, req_id, _unreadable(name, stream, logfile.path, exc))

    @staticmethod
    def _end_tail(client: Client, req_id, message: str, removed: bool = False) -> None:
        if client.closed:
            return
        code = protocol.NO_SUCH_PROCESS if removed else protocol.LOG_ERROR
        client.fail(req_id, code, message)
        client.flush()
        client.close()

    @staticmethod
    def _send_tail(client: Client, req_id, text: str) -> bool:
        """False drops the follower: a reader this far behind would make us buffer forever."""
        if client.closed:
            return False
        if len(client.out) > MAX_FOLLOW_BACKLOG:
            log.warning("control: dropping a tail -f reader that is too slow")
            client.fail(req_id, protocol.TOO_SLOW, "tail -f reader too slow; dropped")
            client.flush()
            client.close()
            return False
        client.reply(req_id, {"data": text})
        return True

    def cmd_reload(self, client: Client, request: protocol.Request):
        def done(diff: dict | None, errors: list[str]) -> None:
            if diff is None:
                code = protocol.BUSY if errors == [RELOAD_BUSY] else protocol.CONFIG_ERROR
                client.fail(request.id, code, "\n".join(errors))
            else:
                client.reply(request.id, diff)

        self.request_reload(done)
        return _LATER

    def cmd_events(self, client: Client, request: protocol.Request):
        def listener(process: Process, change: StateChanged | None) -> None:
            if change is None:
                return
            machine = process.machine
            event = {
                "time": round(process.changed_at, 6),
                "process": process.name,
                "program": process.program.name,
                "from": change.old.value,
                "to": change.new.value,
                "pid": machine.pid,
                "exitstatus": machine.exitstatus,
            }
            if len(client.out) > MAX_EVENTS_BACKLOG:
                log.warning("control: dropping an events subscriber that is too slow")
                client.fail(request.id, protocol.TOO_SLOW, "events reader too slow; dropped")
                client.close()
                return
            client.reply(request.id, event)

        self.supervisor.listeners.append(listener)
        client.on_close.append(lambda: self.supervisor.listeners.remove(listener))
        client.streaming = True
        client.reply(request.id, {"subscribed": True})
        return _LATER

    def cmd_shutdown(self, client: Client, request: protocol.Request):
        self.request_shutdown(client, request.id)
        return _LATER

    def cmd_version(self, client: Client, request: protocol.Request):
        return {
            "daemon": __version__,
            "python": ".".join(map(str, sys.version_info[:3])),
            "pid": os.getpid(),
        }


_LATER = object()  # a handler's "I will reply myself"


def _refuse(client: Client, code: str, message: str) -> None:
    """One error reply, then close."""
    client.fail(None, code, message)
    # Read what it sent already: closing a Unix socket with unread input resets the
    # peer, which could then lose the reply above.
    try:
        client.sock.recv(65536)
    except OSError:
        pass
    client.close()


def _unreadable(name: str, stream: str, path: str, exc: OSError) -> str:
    return f"cannot read {name}'s {stream} log {path}: {exc.strerror or exc}"


def _key(req_id):
    """A dict key for any JSON id (lists and objects are unhashable)."""
    try:
        hash(req_id)
        return req_id
    except TypeError:
        return repr(req_id)


RELOAD_BUSY = "a reload is already under way; try again when it has finished"
