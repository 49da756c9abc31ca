"""The running daemon: from run() to shutdown. It owns the loop, the supervisor and the
control server; handles signals (stop, reload, reopen logs), queues a SIGHUP that comes
during a reload, re-creates a deleted socket, and cleans up only what is still its own.

It must not parse the command line or detach (cli.py and startup.py do).
"""

from __future__ import annotations

import os
import signal
import socket

from supervisord_lite import __version__
from supervisord_lite.base.log import LEVELS, log
from supervisord_lite.config.model import DaemonConfig
from supervisord_lite.control.commands import RELOAD_BUSY
from supervisord_lite.control.group_commands import GroupCommands
from supervisord_lite.control.replies import Replier, flush_blocking
from supervisord_lite.control.server import ControlServer
from supervisord_lite.control.stdin_command import StdinCommand
from supervisord_lite.core.states import ProcessState
from supervisord_lite.daemon.process_limits import become_subreaper, max_clients
from supervisord_lite.daemon.quotas import quota_problems, uses_quotas
from supervisord_lite.daemon.reexec import Reexec
from supervisord_lite.daemon.reload_config import config_to_reload
from supervisord_lite.daemon.startup import (
    EXIT_STARTUP,
    StartupError,
    bind_socket,
    lock_pidfile,
    make_parent,
    report_ready,
)
from supervisord_lite.engine.recovery import ChildRecord, children_path, stop_strays
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux import cgroups
from supervisord_lite.linux.heap import return_large_blocks
from supervisord_lite.linux.held_sockets import BindError, SocketRegistry
from supervisord_lite.linux.loop import EventLoop
from supervisord_lite.linux.spawn import cloexec_inherited_fds
from supervisord_lite.logs import daemon_log
from supervisord_lite.systemd.notifier import Notifier
from supervisord_lite.systemd.notify import monotonic_usec, sd_notify

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.daemon.xmlrpc_service import XmlRpcService


class Daemon:
    def __init__(self, config: DaemonConfig, foreground: bool):
        self.config = config
        self.foreground = foreground
        self.pidfile_fd = -1
        self.listen_sock: socket.socket | None = None
        self.http_socks: list[socket.socket] = []  # [http], bound before detaching
        self.http_error: str | None = None  # or why it could not be: retried once running
        self.http = None  # http_service.HttpListener while [http] is configured
        self.socket_inode: tuple[int, int] | None = None
        self.shutdown_waiters: list[tuple[Replier, object]] = []
        self.reloading = False
        self.reload_queued = False  # a SIGHUP came during a reload: one more to run
        self.alerts = None  # alerts_send.Alerts while [alerts] is configured
        self.xmlrpc: XmlRpcService | None = None  # while [xmlrpc] is configured
        self.held_sockets = SocketRegistry()  # bound in prepare(), the supervisor's after
        self.takeover: dict | None = None  # the previous image's state, after a reexec
        # Made now, not at the first reexec: its modules must be this version's when the
        # package on disk has been upgraded for that reexec (tests/unit/test_feature_modules.py).
        self.reexec = Reexec(self)

    # -- before detaching: everything a user can get wrong --------------------------

    def prepare(self) -> None:
        config = self.config
        self._open_daemon_log()
        self.pidfile_fd = lock_pidfile(config.pidfile)  # held for the daemon's whole life
        self.listen_sock = self._bind_socket()
        self._bind_held_sockets()
        self._bind_http()

    def take_over(self, state: dict) -> None:
        """prepare() after a reexec: the pidfile (locked all along), the control socket
        and the held sockets come from the previous image (daemon/takeover.py)."""
        from supervisord_lite.daemon import takeover  # only an image after a reexec

        self.takeover = state
        self._open_daemon_log()
        takeover.adopt_descriptors(self, state)  # held sockets adopted: kept by address
        try:
            self.held_sockets.apply(self.config.programs.values())
        except BindError as exc:  # a socket added since that cannot be bound: the
            # check tries those first, so only a race gets here (and never stop strays:
            # the children are ours)
            raise StartupError("\n".join(exc.errors)) from None
        self._bind_http()

    def _open_daemon_log(self) -> None:
        config = self.config
        os.umask(config.umask)
        for path in (config.socket, config.pidfile, config.logfile):
            if path:
                make_parent(path)
        try:
            os.makedirs(config.log_dir, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create log_dir {config.log_dir}: {exc.strerror}") from None
        try:
            daemon_log.setup(config.loglevel, config.logfile, self.foreground)
        except OSError as exc:
            raise StartupError(f"cannot open logfile {config.logfile}: {exc.strerror}") from None

    def _bind_http(self) -> None:
        config = self.config
        if config.http is not None:
            # Never a reason not to start: the programs run, the listener retries. (The
            # http package is loaded only with [http].)
            from supervisord_lite.http.service import try_bind

            self.http_socks, self.http_error = try_bind(config.http)
        if config.xmlrpc is not None:
            from supervisord_lite.daemon.xmlrpc_service import XmlRpcService

            self.xmlrpc = XmlRpcService(config.xmlrpc)
            try:
                self.xmlrpc.bind(config.socket_mode)
            except StartupError:
                self._cleanup()  # the control socket and pidfile claimed above go too
                raise

    def _bind_held_sockets(self) -> None:
        """[sockets.*]: a bind failure is a launch error naming the table. A predecessor
        killed with SIGKILL leaves its children holding them: those are stopped first
        (as run() would stop them anyway, SPEC §1), then the sockets bound again."""
        programs = self.config.programs.values()
        try:
            self.held_sockets.apply(programs)
            return
        except BindError as exc:
            if not self._stop_strays():
                raise StartupError("\n".join(exc.errors)) from None
        try:
            self.held_sockets.apply(programs)
        except BindError as exc:
            raise StartupError("\n".join(exc.errors)) from None

    def _bind_socket(self) -> socket.socket:
        sock, self.socket_inode = bind_socket(self.config.socket, self.config.socket_mode)
        return sock

    def _recreate_missing_socket(self) -> None:
        """Someone deleted the socket file (a /tmp cleaner): bind it again. A path that
        exists is left alone, even if it is not ours: we never take another's."""
        path = self.config.socket
        if os.path.lexists(path):
            return
        try:
            sock = self._bind_socket()
        except (StartupError, OSError) as exc:
            log.error("control socket %s is missing and cannot be re-created: %s", path, exc)
            return
        self.server.replace_socket(sock)
        self.listen_sock.close()
        self.listen_sock = sock
        log.warning("control socket %s was missing; re-created it", path)

    # -- the daemon proper ----------------------------------------------------------

    def run(self, ready_fd: int | None) -> int:
        """Run until shut down; report readiness (or the start-up error) on ready_fd."""
        try:
            self._start_up()
        except Exception as exc:
            log.exception("start-up failed")
            report_ready(ready_fd, f"start-up failed: {exc}")
            self._cleanup()
            return EXIT_STARTUP
        supervisor, loop = self.supervisor, self.loop
        if supervisor.record.dirty:
            supervisor.record.write()  # "ready" promises the start-up spawns are on record
        daemon_log.flush()
        report_ready(ready_fd, "ok", [] if self.http is None else self.http.launch_warnings())
        sd_notify("READY=1", f"STATUS={self.summary()}")
        if self.takeover is not None:
            from supervisord_lite.daemon import takeover

            takeover.answer(self.takeover, len(supervisor.processes))
            self.takeover = None  # its processes are the table's now: let it go
        self.notifier = Notifier(loop, self.summary)  # WATCHDOG=1 pings, STATUS= updates
        self.notifier.start(self.summary())
        supervisor.listeners.append(self.notifier.state_changed)
        try:
            loop.run()
        finally:
            self._finish_shutdown()
        return 0

    def _start_up(self) -> None:
        """The loop, the supervisor, the servers and signals; then the strays stopped
        and the autostart programs started. Raises whatever stops the start-up."""
        cloexec_inherited_fds()  # programs start with posix_spawn: no close_fds there
        self._write_pid()
        become_subreaper()
        return_large_blocks()  # a big reply's memory is not kept resident after it
        loop = EventLoop()
        loop.before_sleep.append(daemon_log.flush)
        daemon_log.use_timer(loop.call_later)  # repeated lines' summaries, on time
        supervisor = Supervisor(self.config, loop)
        supervisor.sockets = self.held_sockets
        self.loop, self.supervisor = loop, supervisor
        self._apply_alerts(self.config.alerts)  # before the first start can fail
        self.server = ControlServer(
            self.listen_sock,
            loop,
            supervisor,
            self.request_shutdown,
            self.request_reload,
            allowed_uids=self.config.allowed_uids,
            max_clients=max_clients(self.config),
            idle_timeout=self.config.idle_timeout,
            line_timeout=self.config.line_timeout,
        )
        self.server.commands.daemon_fields["http"] = self._describe_http
        self.server.handlers.update(GroupCommands(supervisor, self.request_reload).handlers)
        self.server.handlers.update(StdinCommand(supervisor).handlers)
        if self.xmlrpc is not None:
            server = self.server
            self.xmlrpc.start(loop, supervisor, server.handlers, lambda: server.allowed_uids)
            self.xmlrpc.on_remote_comm(self._remote_communication)
        self.server.commands.request_reexec = self.reexec.request
        if self.config.http is not None:
            socks, self.http_socks = self.http_socks, []  # the server's from now on
            self._apply_http(self.config.http, (socks, self.http_error))
        self._install_signals()
        if self.takeover is not None:
            from supervisord_lite.daemon import takeover

            takeover.adopt_table(self, self.takeover)
            return
        log.info(
            "supervisord-lite %s started with pid %d (%s)",
            __version__,
            os.getpid(),
            self.config.path,
        )
        self._track_with_cgroups()
        self._stop_strays()
        if supervisor.cgroups is not None:
            supervisor.cgroups.clear_leftovers()  # strays on no record (setsid'd)
        supervisor.record = ChildRecord(children_path(self.config.pidfile), loop.call_later)
        supervisor.start_autostart()
        supervisor.reap()  # a child may have died before SIGCHLD had a handler

    def _apply_http(self, settings, bound=None) -> None:
        """Start (on the socket bound before detaching, or why it could not be), change,
        move or stop [http]: at start-up and at each reload."""
        if settings is None:
            if self.http is not None:
                self.http.stop("[http] was removed from the config")
                self.http = None
            return
        if self.http is None:
            from supervisord_lite.http.service import HttpListener  # only with [http]

            self.http = HttpListener(self.loop, self.supervisor, self.server, self.request_shutdown)
        self.http.apply(settings, bound)

    def _remote_communication(self, kind: str, data: str) -> None:
        """sendRemoteCommEvent: a REMOTE_COMMUNICATION event to the listeners, if any."""
        events = self.supervisor.events
        if events is not None:
            events.remote_communication(kind, data)

    def _apply_xmlrpc(self, settings) -> None:
        if self.xmlrpc is None:
            log.warning("reload: [xmlrpc] was added; it starts when the daemon restarts")
        else:
            self.xmlrpc.reload(settings)

    def _describe_http(self) -> dict | None:
        return None if self.http is None else self.http.describe()

    def _apply_alerts(self, settings) -> None:
        """Start, change or stop [alerts] (at start-up and at each reload)."""
        if settings is None:
            if self.alerts is not None:
                self.supervisor.listeners.remove(self.alerts.listener)
                self.supervisor.notice_listeners.remove(self.alerts.notice_listener)
                self.alerts = None
        elif self.alerts is None:
            from supervisord_lite.alerts.send import Alerts  # only with [alerts]

            self.alerts = Alerts(settings, self.loop, self.supervisor)
            self.supervisor.listeners.append(self.alerts.listener)
            self.supervisor.notice_listeners.append(self.alerts.notice_listener)
        else:
            self.alerts.reconfigure(settings)

    def _track_with_cgroups(self) -> None:
        """Every process in a cgroup of its own where the daemon can make them."""
        try:
            tree, how = cgroups.detect(self.config.cgroup_root)
        except cgroups.CgroupError as exc:
            raise StartupError(str(exc)) from None
        if uses_quotas(self.config):
            available = tree.controllers if tree is not None else ()
            problems = quota_problems(self.config, available, how)
            if problems:
                if tree is not None:
                    tree.close()
                raise StartupError("\n".join(problems))
        if tree is not None:
            self.supervisor.use_cgroups(tree)
        log.info("process trees tracked with %s", how)

    def _install_signals(self) -> None:
        loop = self.loop
        loop.on_signal(signal.SIGCHLD, self.supervisor.reap)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.on_signal(signum, lambda s=signum: self._on_stop_signal(s))
        loop.on_signal(signal.SIGHUP, self._on_reload_signal)
        loop.on_signal(signal.SIGUSR2, self._on_reopen_signal)

    def _on_stop_signal(self, signum: int) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        self.request_shutdown(None, None)

    def _on_reload_signal(self) -> None:
        self._recreate_missing_socket()
        if self.reloading:
            # Dropping it would leave the edit made during this reload unapplied.
            if not self.reload_queued:
                self.reload_queued = True
                log.info("received SIGHUP during a reload: queued; it runs when this one ends")
            return
        log.info("received SIGHUP: reloading %s", self.config.path)
        self.request_reload(lambda diff, errors: None)

    def _run_queued_reload(self) -> None:
        if not self.reload_queued or self.supervisor.shutting_down:
            return
        self.reload_queued = False
        log.info("running the reload queued by a SIGHUP: reloading %s", self.config.path)
        self.request_reload(lambda diff, errors: None)

    def request_reload(self, done, pick=None) -> None:
        """Re-read the config and apply the difference; done(diff, errors) at the end.

        A config with errors is rejected whole, and nothing running is touched. With
        `pick` (control/group_commands.py), the config moved to is pick(running config,
        a loader of the one on disk): some groups' change only.
        """
        if self.reloading:
            done(None, [RELOAD_BUSY])
            return
        new, errors = config_to_reload(self.config, pick, self.supervisor.cgroups,
                                       self.held_sockets)  # fmt: skip
        if new is None:
            done(None, errors)
            return
        self.reloading = True
        sd_notify("RELOADING=1", monotonic_usec())
        for key in ("socket", "pidfile", "logfile", "umask", "socket_mode"):
            if getattr(new, key) != getattr(self.config, key):
                log.warning("reload: %s changed; it takes effect when the daemon restarts", key)

        def applied(diff: dict) -> None:
            self.reloading = False
            self.config = new
            log.setLevel(LEVELS[new.loglevel])
            self.server.allowed_uids = {0, os.geteuid(), *new.allowed_uids}
            self.server.max_clients = max_clients(new)
            self.server.idle_timeout = new.idle_timeout
            self.server.line_timeout = new.line_timeout
            self._apply_alerts(new.alerts)
            self._apply_http(new.http)
            if self.xmlrpc is not None or new.xmlrpc is not None:
                self._apply_xmlrpc(new.xmlrpc)
            log.info(
                "reloaded: added %s; changed %s; scaled %s; removed %s",
                *(", ".join(diff[k]) or "none" for k in ("added", "changed", "scaled", "removed")),
            )
            sd_notify("READY=1", f"STATUS={self.summary()}")
            done(diff, [])
            if self.reload_queued:
                self.loop.call_soon(self._run_queued_reload)

        self.supervisor.apply_config(new, applied)

    def _stop_strays(self) -> list[str]:
        """Stop what a predecessor killed with SIGKILL left running (SPEC §1); the names
        it had on record."""

        def stop_settings(name: str) -> tuple[int, float, bool]:
            found = self.config.find_process(name.partition("#")[0])  # NAME#PID: a surge
            if found is None:
                return signal.SIGTERM, 10.0, True
            program = found[0]
            return program.stopsignal, program.stopwaitsecs, program.stopasgroup

        return stop_strays(children_path(self.config.pidfile), stop_settings)

    def _on_reopen_signal(self) -> None:
        log.info("received SIGUSR2: reopening log files")
        daemon_log.reopen()
        self.supervisor.reopen_logs()

    def request_shutdown(self, client: Replier | None, req_id: object) -> None:
        """Stop every child, then the loop; `client` (a control Client or an HTTP API
        Caller), if any, is told once all have stopped."""
        if client is not None:
            self.shutdown_waiters.append((client, req_id))
        if not self.supervisor.shutting_down:
            sd_notify("STOPPING=1")
            self.supervisor.shutdown(self.loop.stop)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for process in self.supervisor.processes.values():
            counts[process.state.value] = counts.get(process.state.value, 0) + 1
        order = [s.value for s in ProcessState]
        parts = [f"{counts[s]} {s.lower()}" for s in order if s in counts]
        return ", ".join(parts) or "no programs"

    def _finish_shutdown(self) -> None:
        for client, req_id in self.shutdown_waiters:
            client.reply(req_id, {"shutdown": True})
            flush_blocking(client)
        self.server.close()
        self.supervisor.close_probes()
        if self.http is not None:
            self.http.stop("shutting down")
        if self.xmlrpc is not None:
            self.xmlrpc.close()
        for process in self.supervisor.processes.values():
            self.supervisor.close_logs(process)
        self.loop.close()
        self._cleanup()
        daemon_log.write_held()  # the count of repeated lines not logged yet
        log.info("shut down")
        daemon_log.flush()

    def _write_pid(self) -> None:
        data = f"{os.getpid()}\n".encode()
        os.ftruncate(self.pidfile_fd, 0)
        os.pwrite(self.pidfile_fd, data, 0)

    def _cleanup(self) -> None:
        """Remove socket, pidfile and child record, but only while they are still ours."""
        tree = getattr(getattr(self, "supervisor", None), "cgroups", None)
        if tree is not None:
            self.supervisor.cgroups = None
            tree.close()  # after the programs' stop: removes the cgroups, the daemon's too
        path = self.config.socket
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) == self.socket_inode:
                os.unlink(path)
        except OSError:
            pass
        if self.listen_sock is not None:
            self.listen_sock.close()
        self.held_sockets.close_all()
        for sock in self.http_socks:
            sock.close()
        if self.xmlrpc is not None:
            self.xmlrpc.close()  # a start-up that failed: the socket file goes too
        if self.pidfile_fd >= 0:
            record = getattr(getattr(self, "supervisor", None), "record", None)
            if record is not None and not record.remove():
                # Only after an unexpected error: the next daemon stops them (SPEC §1).
                log.error(
                    "exiting with programs still running (%s); they are on record in %s "
                    "for the next daemon to stop",
                    ", ".join(record.children),
                    record.path,
                )
            try:
                os.unlink(self.config.pidfile)
            except OSError:
                pass
            os.close(self.pidfile_fd)
            self.pidfile_fd = -1
