"""The streaming commands: `tail` (and `tail -f`), `maintail` and `events`.

Each replies once at once, then keeps replying on the same request id as lines are
written or processes change state, until the client goes. A reader too far behind is
dropped with an error rather than buffered for: the daemon's memory must not grow with
a slow client. A followed log survives rotation and a reload re-creating its process
(logs/follow.py re-attaches it).
"""

from __future__ import annotations

import time

from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.control.one_process import one_process
from supervisord_lite.control.replies import LATER, Replier
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import StateChanged
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux.loop import EventLoop
from supervisord_lite.logs import daemon_log
from supervisord_lite.logs.follow import Follower, read_range, read_tail

# A tail -f reader further behind than this is dropped with an error.
MAX_FOLLOW_BACKLOG = 4 * 1024 * 1024
# Likewise an `events` subscriber: events are small, so this is thousands behind.
MAX_EVENTS_BACKLOG = 256 * 1024
# A read of a log by byte (tail with "offset": Supervisor's log reads) at most this much.
MAX_RANGE = 4 * 1024 * 1024


class Streams:
    """The streaming handlers, given the supervisor (its logs and listeners) and loop."""

    def __init__(self, supervisor: Supervisor, loop: EventLoop):
        self.supervisor = supervisor
        self.loop = loop

    def cmd_tail(self, client: Replier, request: protocol.Request):
        name = protocol.arg_str(request.args, "name")
        stream = protocol.arg_str(request.args, "stream", "stdout")
        lines = protocol.arg_int(request.args, "lines", 10)
        follow = protocol.arg_bool(request.args, "follow")
        if stream not in ("stdout", "stderr"):
            raise ProtocolError(protocol.BAD_ARGUMENT, '"stream" must be "stdout" or "stderr"')
        process = one_process(self.supervisor, name)
        name = process.name  # a reload re-attaches by the full name
        path = process.program.logfile_path(stream, process.num, self.supervisor.config.log_dir)
        if path is None:
            raise ProtocolError(protocol.BAD_ARGUMENT, f"{name} has no {stream} log")
        logfile = self.supervisor.open_log(process, stream)
        try:
            if "offset" in request.args:  # by byte, as Supervisor's log reads (XML-RPC)
                return _byte_range(logfile, path, request.args)
            # Read back from the LogFile, not the path: only the file the daemon writes.
            data = read_tail(logfile, lines).decode("utf-8", "replace")
            if not follow:
                return {"path": path, "data": data}
            follower = Follower(
                logfile,
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
        return LATER

    def _reattach(self, client: Replier, req_id, follower: Follower, name: str, stream: str):
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
    def _end_tail(client: Replier, req_id, message: str, removed: bool = False) -> None:
        if client.closed:
            return
        code = protocol.NO_SUCH_PROCESS if removed else protocol.LOG_ERROR
        client.fail(req_id, code, message)
        client.flush()
        client.close()

    @staticmethod
    def _send_tail(client: Replier, req_id, text: str) -> bool:
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

    def cmd_maintail(self, client: Replier, request: protocol.Request):
        """The daemon's own log: its last lines, and with follow, what it writes next
        (a Follower, as tail -f, across SIGUSR2 reopens)."""
        lines = protocol.arg_int(request.args, "lines", 10)
        follow = protocol.arg_bool(request.args, "follow")
        watched = daemon_log.watched()
        if watched is None:
            raise ProtocolError(
                protocol.LOG_ERROR,
                'the daemon writes no log file ([supervisord] logfile = "none"); '
                "set logfile in the config and restart the daemon to have one",
            )
        daemon_log.flush()  # the lines of this very turn too
        path = watched.path
        try:
            if "offset" in request.args:
                return _byte_range(watched, path, request.args)
            data = read_tail(watched, lines).decode("utf-8", "replace")
            if not follow:
                return {"path": path, "data": data}
            follower = Follower(
                watched,
                lambda text: self._send_tail(client, request.id, text),
                on_retired=lambda f: f.close(),  # never: the daemon's log is not retired
                on_error=lambda message: self._end_tail(client, request.id, message),
            )
        except OSError as exc:
            message = f"cannot read the daemon's log {path}: {exc.strerror or exc}"
            raise ProtocolError(protocol.LOG_ERROR, message) from None
        client.on_close.append(follower.close)
        client.streaming = True
        client.reply(request.id, {"path": path, "data": data})
        return LATER

    def cmd_events(self, client: Replier, request: protocol.Request):
        def listener(process: Process, change: StateChanged | None) -> None:
            if change is None:
                return
            machine = process.machine
            event = {
                "time": round(process.changed_at, 6),
                "process": process.name,
                "program": process.program.name,
                "group": process.program.group,
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

        def notice(process: Process, item: dict) -> None:
            # Not a transition (a memory limit crossed...): the same fields, no from/to.
            machine = process.machine
            event = {
                "time": round(time.time(), 6),
                "process": process.name,
                "program": process.program.name,
                "group": process.program.group,
                "pid": machine.pid,
                **item,
            }
            if not client.closed and len(client.out) <= MAX_EVENTS_BACKLOG:
                client.reply(request.id, event)

        self.supervisor.listeners.append(listener)
        self.supervisor.notice_listeners.append(notice)
        client.on_close.append(lambda: self.supervisor.listeners.remove(listener))
        client.on_close.append(lambda: self.supervisor.notice_listeners.remove(notice))
        client.streaming = True
        client.reply(request.id, {"subscribed": True})
        return LATER


def _byte_range(target, path: str, args: dict) -> dict:
    """`length` bytes from byte `offset` (negative: from the end), at most MAX_RANGE;
    with where they start and the file's size (OSError when unreadable)."""
    offset = protocol.arg_int(args, "offset", 0, minimum=-MAX_RANGE)
    length = min(protocol.arg_int(args, "length", MAX_RANGE), MAX_RANGE)
    data, start, size = read_range(target, offset, length)
    return {"path": path, "data": data.decode("utf-8", "replace"), "offset": start, "size": size}


def _unreadable(name: str, stream: str, path: str, exc: OSError) -> str:
    return f"cannot read {name}'s {stream} log {path}: {exc.strerror or exc}"
