"""The control commands: one `cmd_<name>` handler per command, in one dict.

A handler returns its result (sent at once), or LATER (replies.py) once it has arranged
to reply itself through `client.reply` (start/stop wait for the outcome: the reply is
parked on a state-change listener, never polled); the streaming ones (tail -f,
maintail, events) live in streams.py. Handlers ask the supervisor and
answer the client, a `Replier` (the socket's or the HTTP API's); they never read a
socket, buffer output or time a connection (server.py does), and never block.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from supervisord_lite import __version__
from supervisord_lite.base import protocol
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError
from supervisord_lite.config.values import signal_number
from supervisord_lite.control.one_process import one_process
from supervisord_lite.control.replies import LATER, Replier
from supervisord_lite.control.rolling_restart import rolling_restart, with_retiring
from supervisord_lite.control.scale_command import cmd_scale
from supervisord_lite.control.status_json import StatusText
from supervisord_lite.control.streams import Streams
from supervisord_lite.core.ordering import AT_REST
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import LIVE_STATES, ProcessState, StateChanged
from supervisord_lite.engine.group_changes import group_diff
from supervisord_lite.engine.reload import preview
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux.loop import EventLoop, now

S = ProcessState

RELOAD_BUSY = "a reload is already under way; try again when it has finished"


class Commands:
    """The handlers, given what they act on and the daemon's shutdown/reload callbacks."""

    def __init__(
        self,
        supervisor: Supervisor,
        loop: EventLoop,
        request_shutdown: Callable[[Replier | None, object], None],
        request_reload: Callable[[Callable[[dict | None, list[str]], None]], None],
        client_count: Callable[[], int] = lambda: 0,
    ):
        self.supervisor = supervisor
        self.loop = loop
        self.status_text = StatusText(supervisor)
        self.request_shutdown = request_shutdown
        self.request_reload = request_reload
        self.client_count = client_count
        # reexec (daemon/reexec.py): set by the daemon; it answers through the client.
        self.request_reexec: Callable[[Replier, object], None] | None = None
        # Daemon-level fields `version` adds, each a callable (None: left out), e.g. how
        # the [http] listener is doing.
        self.daemon_fields: dict[str, Callable[[], object]] = {}
        streams = Streams(supervisor, loop)  # tail, maintail, events: streams.py
        self.handlers: dict[str, Callable[[Replier, protocol.Request], object]] = {
            "status": self.cmd_status,
            "start": self.cmd_start,
            "stop": self.cmd_stop,
            "restart": self.cmd_restart,
            "signal": self.cmd_signal,
            "pid": self.cmd_pid,
            "tail": streams.cmd_tail,
            "reload": self.cmd_reload,
            "events": streams.cmd_events,
            "shutdown": self.cmd_shutdown,
            "version": self.cmd_version,
            "metrics": self.cmd_metrics,
            "avail": self.cmd_avail,
            "clear": self.cmd_clear,
            "maintail": streams.cmd_maintail,
            "scale": lambda client, request: cmd_scale(
                supervisor, self._wait_started, client, request
            ),
            "reexec": self.cmd_reexec,
        }

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

    def _wait_started(self, client: Replier, processes: list[Process], done) -> None:
        """Call done(results) once every process is RUNNING (a oneshot: completed) or
        has failed to start."""
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
            elif change is not None and change.new is S.EXITED and change.old is S.STARTING:
                # A oneshot never is RUNNING: its start is done once it completed (as
                # `systemctl start` of a Type=oneshot unit waits for it).
                settle(process, True, "completed")
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
        client.on_close.append(lambda: self.supervisor.listeners.remove(listener))
        with self.supervisor.spawns_together():
            for process in processes:
                # A reload may have replaced the slot since the names were resolved
                # (restart waits for a stop first): the one in the table now is the one.
                current = self.supervisor.processes.get(process.name) or process
                if current.state is S.RUNNING:
                    settle(current, True, "already started")
                elif current.state is S.STOPPING:
                    settle(current, False, "is stopping; try again once it has stopped")
                else:
                    self.supervisor.start(current)
        finish_if_done()

    # -- commands -----------------------------------------------------------------

    def cmd_status(self, client: Replier, request: protocol.Request):
        processes, unknown = self._resolve(request, required=False)
        if unknown:
            raise ProtocolError(protocol.NO_SUCH_PROCESS, f"no such process: {', '.join(unknown)}")
        # The ctl's text asks none: the trees' figures are read only for those who show them.
        figures = protocol.arg_bool(request.args, "figures", True)
        text = self.status_text.array(processes, now(), figures)
        return protocol.Raw(with_retiring(self.supervisor, text, processes, figures))

    def cmd_start(self, client: Replier, request: protocol.Request):
        processes, unknown = self._resolve(request)
        self._wait_started(
            client,
            processes,
            lambda results: client.reply(request.id, results + self._unknown_results(unknown)),
        )
        return LATER

    def cmd_stop(self, client: Replier, request: protocol.Request):
        processes, unknown = self._resolve(request)
        self._stop(
            processes,
            lambda results: client.reply(request.id, results + self._unknown_results(unknown)),
        )
        return LATER

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

    def cmd_restart(self, client: Replier, request: protocol.Request):
        processes, unknown = self._resolve(request)
        if protocol.arg_bool(request.args, "rolling"):
            rolling_restart(
                self.supervisor, client, request.id, processes, self._unknown_results(unknown)
            )
            return LATER

        def start_again(_stopped) -> None:
            self._wait_started(
                client,
                processes,
                lambda results: client.reply(request.id, results + self._unknown_results(unknown)),
            )

        self._stop(processes, start_again)
        return LATER

    def cmd_signal(self, client: Replier, request: protocol.Request):
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

    def cmd_pid(self, client: Replier, request: protocol.Request):
        name = request.args.get("name")
        if name is None:
            return os.getpid()
        if not isinstance(name, str):
            raise ProtocolError(protocol.BAD_ARGUMENT, '"name" must be a string')
        return one_process(self.supervisor, name).pid

    def cmd_reload(self, client: Replier, request: protocol.Request):
        if protocol.arg_bool(request.args, "dry_run"):
            return self._reload_preview()

        def done(diff: dict | None, errors: list[str]) -> None:
            if diff is None:
                code = protocol.BUSY if errors == [RELOAD_BUSY] else protocol.CONFIG_ERROR
                client.fail(request.id, code, "\n".join(errors))
            else:
                client.reply(request.id, diff)

        self.request_reload(done)
        return LATER

    def _reload_preview(self) -> dict:
        """What a reload would do, applying nothing: the config is read as reload reads
        it (a bad one is refused with every error) and compared by engine/reload.py."""
        supervisor = self.supervisor
        try:
            new = load_config(supervisor.config.path)
        except ConfigError as exc:
            raise ProtocolError(protocol.CONFIG_ERROR, "\n".join(exc.errors)) from None
        result = preview(supervisor.config.programs, supervisor.config.log_dir, new)
        result["groups"] = group_diff(supervisor.config, new)  # Supervisor's unit: `reread`
        result["dry_run"] = True
        return result

    def cmd_avail(self, client: Replier, request: protocol.Request):
        """Every configured process: whether it is in use (running or on its way up or
        down), autostart, priority; as supervisorctl's `avail`."""
        return [
            {
                "name": process.name,
                "program": process.program.name,
                "group": process.program.group,
                "in_use": process.state in LIVE_STATES or process.state is S.BACKOFF,
                "state": process.state.value,
                "autostart": process.program.autostart,
                "priority": process.program.priority,
                "group_priority": process.program.group_priority,
            }
            for process in self.supervisor.processes.values()
        ]

    def cmd_clear(self, client: Replier, request: protocol.Request):
        processes, unknown = self._resolve(request)
        return [self._clear_logs(p) for p in processes] + self._unknown_results(unknown)

    def _clear_logs(self, process: Process) -> dict:
        """Empty the process's current log files (LogFile.truncate: safe while it writes)."""
        cleared: list[str] = []
        notes: list[str] = []
        for stream in ("stdout", "stderr"):
            logfile = self.supervisor.open_log(process, stream)
            if logfile is None:
                continue
            try:
                why_not = logfile.truncate()
            except OSError as exc:
                message = f"cannot clear its {stream} log {logfile.path}: {exc.strerror or exc}"
                return {"name": process.name, "ok": False, "message": message}
            if why_not is None:
                cleared.append(logfile.path)
            else:
                notes.append(f"{stream}: {why_not}")
        if cleared:
            message = "cleared" + "".join(f"; {note}" for note in notes)
        elif notes:
            message = "nothing cleared; " + "; ".join(notes)
        else:
            message = 'nothing to clear: its logs are "none"'
        return {"name": process.name, "ok": True, "message": message, "cleared": cleared}

    def cmd_metrics(self, client: Replier, request: protocol.Request):
        """The Prometheus text exposition, as one string."""
        from supervisord_lite.control import (
            metrics,
            metrics_rows,  # only for who asks for them
        )

        rows = metrics_rows.process_rows(self.supervisor)
        daemon = metrics_rows.daemon_row(self.client_count())
        return metrics.render(rows, daemon, metrics_rows.listener_drops(self.supervisor))

    def cmd_shutdown(self, client: Replier, request: protocol.Request):
        self.request_shutdown(client, request.id)
        return LATER

    def cmd_reexec(self, client: Replier, request: protocol.Request):
        if self.request_reexec is None or not hasattr(client, "fd"):
            raise ProtocolError(protocol.BAD_ARGUMENT, "reexec is asked on the control socket")
        self.request_reexec(client, request.id)
        return LATER

    def cmd_version(self, client: Replier, request: protocol.Request):
        result = {
            "daemon": __version__,
            "python": ".".join(map(str, sys.version_info[:3])),
            "pid": os.getpid(),
        }
        for key, field in self.daemon_fields.items():
            value = field()
            if value is not None:
                result[key] = value
        return result
