"""The daemon's command line and life: validate, claim pidfile and socket, detach, run, clean up.

Everything that can fail for a user's reason (bad config, daemon already running,
unwritable paths) is checked before detaching, so the launching command can say so.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import resource
import signal
import socket
import stat
import sys
from types import SimpleNamespace

from supervisord_lite import __version__, daemon_log, unit
from supervisord_lite.commands import RELOAD_BUSY
from supervisord_lite.config import ConfigError, DaemonConfig, find_config_path, load_config
from supervisord_lite.control import Client, ControlServer
from supervisord_lite.loop import EventLoop
from supervisord_lite.notify import monotonic_usec, sd_notify
from supervisord_lite.recovery import ChildRecord, children_path, stop_strays
from supervisord_lite.spawn import cloexec_inherited_fds
from supervisord_lite.states import ProcessState
from supervisord_lite.supervisor import Supervisor
from supervisord_lite.watchdog import Notifier

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

log = logging.getLogger("supervisord_lite")

EXIT_CONFIG = 2
EXIT_STARTUP = 1
_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


class StartupError(Exception):
    """A reason the daemon cannot start, told to the user as it is."""


def build_parser() -> argparse.ArgumentParser:
    import argparse  # only for what fast_parse leaves: its import stays resident for good

    parser = argparse.ArgumentParser(
        prog="supervisord-lite",
        description="Run the programs of a TOML config and keep them running.",
    )
    parser.add_argument("-c", "--configuration", dest="config", metavar="CONFIG")
    parser.add_argument(
        "-n", "--nodaemon", action="store_true", help="stay in the foreground (log to stderr too)"
    )
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument("--version", action="version", version=f"supervisord-lite {__version__}")
    parser.add_argument(
        "--print-unit", action="store_true", help="print a systemd unit for this install and exit"
    )
    return parser


def fast_parse(argv: list[str]) -> SimpleNamespace | None:
    """The usual command lines, each option at most once: [-c CONFIG] [-n] [--check].
    None for anything else (help, --version, --print-unit, other spellings, mistakes),
    which argparse then parses: same result, same messages and exit codes. argparse
    (with gettext) would add 0.4 MiB to the daemon's memory for its whole life."""
    args = SimpleNamespace(config=None, nodaemon=False, check=False, print_unit=False)
    seen = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = _FAST_OPTIONS.get(arg)
        if name is None or name in seen:
            return None
        seen.add(name)
        if name == "config":
            if i + 1 == len(argv) or not argv[i + 1] or argv[i + 1][0] == "-":
                return None
            args.config = argv[i + 1]
            i += 2
        else:
            setattr(args, name, True)
            i += 1
    return args


_FAST_OPTIONS = {
    "-c": "config",
    "--configuration": "config",
    "-n": "nodaemon",
    "--nodaemon": "nodaemon",
    "--check": "check",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace | SimpleNamespace:
    args = fast_parse(sys.argv[1:] if argv is None else argv)
    if args is not None:
        return args
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.print_unit:  # needs no config: the unit is written before the config often
        print(unit.render(unit.config_path(args.config)), end="")
        parser.exit(0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(find_config_path(args.config))
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    if args.check:
        missing = missing_commands(config)
        for line in missing:
            print(line, file=sys.stderr)
        if missing:
            return EXIT_CONFIG
        print(f"config OK: {len(config.programs)} programs")
        return 0
    try:
        daemon = Daemon(config, foreground=args.nodaemon)
        daemon.prepare()
    except StartupError as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    if args.nodaemon:
        try:
            return daemon.run(ready_fd=None)
        finally:
            daemon_log.flush()
    return detach_and_run(daemon)


def missing_commands(config: DaemonConfig) -> list[str]:
    """--check only: commands given as a path that names no file now. Not a load error:
    at run time a missing command is the program's FATAL state, and it may appear later."""
    errors = []
    for program in config.programs.values():
        path = program.command[0]
        if os.sep in path and not os.path.exists(path):
            errors.append(
                f"{program.source}: programs.{program.name}.command: no such file {path}"
                " (a relative command is resolved against the program's directory,"
                " else the config file's)"
            )
    return errors


def detach_and_run(daemon: Daemon) -> int:
    """Double fork; the launcher returns only when the daemon says it is ready (or why not)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(write_end)
        message = _read_all(read_end)
        os.waitpid(pid, 0)
        if message == b"ok":
            return 0
        reason = message.decode(errors="replace") or (
            f"the daemon exited during start-up; see {daemon.config.logfile or 'its log'}"
        )
        print(f"supervisord-lite: {reason}", file=sys.stderr)
        return EXIT_STARTUP
    os.close(read_end)
    os.setsid()  # a new session: no controlling terminal, no SIGHUP when it closes
    if os.fork() > 0:
        os._exit(0)  # the session leader leaves, so the daemon can never reacquire a tty
    os.chdir("/")
    _stdio_to_devnull()
    try:
        code = daemon.run(ready_fd=write_end)
    except BaseException:
        log.exception("fatal error")
        code = EXIT_STARTUP
    daemon_log.flush()
    os._exit(code)


class Daemon:
    def __init__(self, config: DaemonConfig, foreground: bool):
        self.config = config
        self.foreground = foreground
        self.pidfile_fd = -1
        self.listen_sock: socket.socket | None = None
        self.socket_inode: tuple[int, int] | None = None
        self.shutdown_waiters: list[tuple[Client, object]] = []
        self.reloading = False
        self.reload_queued = False  # a SIGHUP came during a reload: one more to run

    # -- before detaching: everything a user can get wrong --------------------------

    def prepare(self) -> None:
        config = self.config
        os.umask(config.umask)
        for path in (config.socket, config.pidfile, config.logfile):
            if path:
                _make_parent(path)
        try:
            os.makedirs(config.log_dir, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create log_dir {config.log_dir}: {exc.strerror}") from None
        try:
            daemon_log.setup(config.loglevel, config.logfile, self.foreground)
        except OSError as exc:
            raise StartupError(f"cannot open logfile {config.logfile}: {exc.strerror}") from None
        self._lock_pidfile()
        self.listen_sock = self._bind_socket()

    def _lock_pidfile(self) -> None:
        path = self.config.pidfile
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StartupError(f"cannot open pidfile {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StartupError(
                f"another supervisord-lite is already running (pid {other}, pidfile {path}); "
                "stop it first with: supervisorctl-lite shutdown"
            ) from None
        self.pidfile_fd = fd  # the lock lives as long as this descriptor: the daemon's life

    def _bind_socket(self) -> socket.socket:
        path = self.config.socket
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise StartupError(f"{path} exists and is not a socket; remove it or pick another")
            if _socket_is_live(path):
                raise StartupError(
                    f"another daemon is listening on {path}; "
                    "stop it first with: supervisorctl-lite shutdown"
                )
            log.info("removing stale socket %s", path)
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        # Created 0600 from the first instant: no window in which another user could
        # connect. A wider socket_mode is applied only afterwards, on purpose.
        old_umask = os.umask(0o177)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            raise StartupError(f"cannot bind socket {path}: {exc.strerror}") from None
        finally:
            os.umask(old_umask)
        if self.config.socket_mode != 0o600:
            os.chmod(path, self.config.socket_mode)
        # The kernel's most: a burst of clients waits in the queue, never fails connect().
        sock.listen(socket.SOMAXCONN)
        st = os.stat(path)
        self.socket_inode = (st.st_dev, st.st_ino)
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
            cloexec_inherited_fds()  # programs start with posix_spawn: no close_fds there
            self._write_pid()
            _become_subreaper()
            loop = EventLoop()
            loop.before_sleep.append(daemon_log.flush)
            supervisor = Supervisor(self.config, loop)
            self.loop, self.supervisor = loop, supervisor
            self.server = ControlServer(
                self.listen_sock,
                loop,
                supervisor,
                self.request_shutdown,
                self.request_reload,
                allowed_uids=self.config.allowed_uids,
                max_clients=self._max_clients(self.config),
                idle_timeout=self.config.idle_timeout,
                line_timeout=self.config.line_timeout,
            )
            self._install_signals()
            log.info(
                "supervisord-lite %s started with pid %d (%s)",
                __version__,
                os.getpid(),
                self.config.path,
            )
            self._stop_strays()
            supervisor.record = ChildRecord(children_path(self.config.pidfile), loop.call_later)
            supervisor.start_autostart()
            supervisor.reap()  # a child may have died before SIGCHLD had a handler
        except Exception as exc:
            log.exception("start-up failed")
            self._report_ready(ready_fd, f"start-up failed: {exc}")
            self._cleanup()
            return EXIT_STARTUP
        if supervisor.record.dirty:
            supervisor.record.write()  # "ready" promises the start-up spawns are on record
        daemon_log.flush()
        self._report_ready(ready_fd, "ok")
        sd_notify("READY=1", f"STATUS={self.summary()}")
        self.notifier = Notifier(loop, self.summary)  # WATCHDOG=1 pings, STATUS= updates
        self.notifier.start(self.summary())
        supervisor.listeners.append(self.notifier.state_changed)
        try:
            loop.run()
        finally:
            self._finish_shutdown()
        return 0

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

    def request_reload(self, done) -> None:
        """Re-read the config and apply the difference; done(diff, errors) at the end.

        A config with errors is rejected whole, and nothing running is touched.
        """
        if self.reloading:
            done(None, [RELOAD_BUSY])
            return
        try:
            new = load_config(self.config.path)
        except ConfigError as exc:
            log.error("reload rejected; still running the old config:\n%s", exc)
            done(None, exc.errors)
            return
        self.reloading = True
        sd_notify("RELOADING=1", monotonic_usec())
        for key in ("socket", "pidfile", "logfile", "umask", "socket_mode"):
            if getattr(new, key) != getattr(self.config, key):
                log.warning("reload: %s changed; it takes effect when the daemon restarts", key)

        def applied(diff: dict) -> None:
            self.reloading = False
            self.config = new
            log.setLevel(getattr(logging, new.loglevel.upper()))
            self.server.allowed_uids = {0, os.geteuid(), *new.allowed_uids}
            self.server.max_clients = self._max_clients(new)
            self.server.idle_timeout = new.idle_timeout
            self.server.line_timeout = new.line_timeout
            log.info(
                "reloaded: added %s; changed %s; removed %s",
                *(", ".join(diff[k]) or "none" for k in ("added", "changed", "removed")),
            )
            sd_notify("READY=1", f"STATUS={self.summary()}")
            done(diff, [])
            if self.reload_queued:
                self.loop.call_soon(self._run_queued_reload)

        self.supervisor.apply_config(new, applied)

    @staticmethod
    def _max_clients(config: DaemonConfig) -> int:
        """The setting, or by default what the descriptor limit leaves after programs."""
        if config.max_clients is not None:
            return config.max_clients
        reserve = _reserved_fds(config)
        _raise_fd_limit(reserve + MIN_DEFAULT_CLIENTS)
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return max(1, soft - reserve)

    def _stop_strays(self) -> None:
        """Stop what a predecessor killed with SIGKILL left running (SPEC §1)."""

        def stop_settings(name: str) -> tuple[int, float, bool]:
            found = self.config.find_process(name)
            if found is None:
                return signal.SIGTERM, 10.0, True
            program = found[0]
            return program.stopsignal, program.stopwaitsecs, program.stopasgroup

        stop_strays(children_path(self.config.pidfile), stop_settings)

    def _on_reopen_signal(self) -> None:
        log.info("received SIGUSR2: reopening log files")
        daemon_log.reopen()
        self.supervisor.reopen_logs()

    def request_shutdown(self, client: Client | None, req_id) -> None:
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
            _flush_blocking(client)
        self.server.close()
        for process in self.supervisor.processes.values():
            self.supervisor.close_logs(process)
        self.loop.close()
        self._cleanup()
        log.info("shut down")
        daemon_log.flush()

    def _write_pid(self) -> None:
        data = f"{os.getpid()}\n".encode()
        os.ftruncate(self.pidfile_fd, 0)
        os.pwrite(self.pidfile_fd, data, 0)

    def _cleanup(self) -> None:
        """Remove socket, pidfile and child record, but only while they are still ours."""
        path = self.config.socket
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) == self.socket_inode:
                os.unlink(path)
        except OSError:
            pass
        if self.listen_sock is not None:
            self.listen_sock.close()
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

    @staticmethod
    def _report_ready(ready_fd: int | None, message: str) -> None:
        if ready_fd is None:
            return
        try:
            os.write(ready_fd, message.encode())
        finally:
            os.close(ready_fd)


# -- small OS helpers -------------------------------------------------------------


# Descriptors per process: its stdout and stderr pipes and their two log files.
FDS_PER_PROCESS = 4
OWN_FDS = 64  # the daemon's own: epoll, socket, signal pair, pidfile, its log, /dev/null...
MIN_DEFAULT_CLIENTS = 1024


def _reserved_fds(config: DaemonConfig) -> int:
    processes = sum(program.numprocs for program in config.programs.values())
    return OWN_FDS + FDS_PER_PROCESS * processes


def _raise_fd_limit(wanted: int) -> None:
    """Raise the soft RLIMIT_NOFILE toward `wanted`, never past the hard limit, and no
    further than needed: programs inherit the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the open-file limit to %d: %s", target, exc)


def _make_parent(path: str) -> None:
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create directory {parent}: {exc.strerror}") from None


def _socket_is_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        return True  # e.g. a timeout: someone owns it and is busy; do not steal it
    finally:
        probe.close()
    return True


def _become_subreaper() -> None:
    """Orphaned grandchildren are re-parented to us, so we reap them (prctl(2))."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log.warning("cannot become a child subreaper: %s", os.strerror(ctypes.get_errno()))


def _stdio_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        data = os.read(fd, 4096)
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks)


def _flush_blocking(client: Client, timeout: float = 2.0) -> None:
    """Last words to a shutdown requester before the loop is gone."""
    if client.closed or not client.out:
        return
    try:
        client.sock.settimeout(timeout)
        client.sock.sendall(client.out)
        client.out.clear()
    except OSError:
        pass
