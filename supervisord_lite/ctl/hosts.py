"""supervisorctl-lite -H/--hosts: one command against many daemons, over ssh.

Each host runs in a forked worker that is the ordinary single-host ctl (ctl_output.run on an
SshConnection), its stdout and stderr on pipes: every command behaves, prints and exits
exactly as it does for one daemon, and this module only gathers. At most --parallel
workers at a time; a host that cannot be reached ends its own worker (exit 4) and
nothing else.

How the output is shown is hosts_output.py's. The exit code is the worst (highest)
of the hosts'.
"""

from __future__ import annotations

import os
import selectors
import signal
import sys

from supervisord_lite.base.ssh import Target, TargetError
from supervisord_lite.ctl.client import UNREACHABLE, Unreachable
from supervisord_lite.ctl.commands import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    json_error,
    run,
)
from supervisord_lite.ctl.host_targets import read_targets
from supervisord_lite.ctl.hosts_output import (
    PREFIX,
    BlockOutput,
    JsonOutput,
    Output,
    StreamOutput,
)
from supervisord_lite.ctl.transport import SshConnection


def run_hosts(args) -> int:
    try:
        targets = read_targets(args)
    except TargetError as exc:
        print(f"{PREFIX}{exc}", file=sys.stderr)
        return EXIT_USAGE
    if is_streaming(args):
        output: Output = StreamOutput(args)
    elif args.json:
        output = JsonOutput(targets)
    else:
        output = BlockOutput(targets)
    return Fleet(targets, args, output).run()


class Stopped(Exception):
    """SIGTERM or SIGHUP: end like Ctrl-C, every worker and its ssh stopped first."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


_STOPPING = (signal.SIGTERM, signal.SIGHUP)
SIGINT = signal.SIGINT


def is_streaming(args) -> bool:
    return args.command == "events" or (
        args.command in ("tail", "maintail") and getattr(args, "follow", False)
    )


# -- the workers ---------------------------------------------------------------------------


class Worker:
    """One host's forked ctl: its pid, its output so far and, once reaped, its exit."""

    def __init__(self, target: Target, args):
        self.target = target
        self.out = bytearray()
        self.err = bytearray()
        self.code: int | None = None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child ends in os._exit
            os.close(out_r)
            os.close(err_r)
            # A parent that dies without a word (SIGKILL) still ends this worker, which
            # then closes its ssh: see die_with_parent.
            die_with_parent(parent)
            _worker_main(target, args, out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        self.fds = {out_r: self.out, err_r: self.err}

    def reap(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self.code = code if code >= 0 else EXIT_FAILED
        return self.code


def _worker_main(target: Target, args, out_fd: int, err_fd: int) -> None:
    """The forked child: the single-host ctl with its output on the pipes. Never
    returns."""
    code = EXIT_FAILED
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.close(out_fd)
        os.close(err_fd)
        for signum in (signal.SIGTERM, signal.SIGHUP):  # so the finally closes ssh
            signal.signal(signum, _exit_on_term)
        code = _run_one(target, args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except BaseException as exc:  # the parent must get an exit code, whatever happened
        print(f"{PREFIX}{exc!r}", file=sys.stderr)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _exit_on_term(signum, frame):
    raise SystemExit(EXIT_OK if _STREAMING_STOP else EXIT_FAILED)


_STREAMING_STOP = False  # set in a streaming worker: being stopped is its normal end


def _run_one(target: Target, args) -> int:
    global _STREAMING_STOP
    _STREAMING_STOP = is_streaming(args)
    try:
        conn = SshConnection(target, args.connect_timeout, args.timeout)
    except Unreachable as exc:
        print(f"{PREFIX}{exc}", file=sys.stderr)
        json_error(args, UNREACHABLE, str(exc))
        return EXIT_UNREACHABLE
    try:
        return run(conn, args)
    except KeyboardInterrupt:
        return EXIT_OK if _STREAMING_STOP else EXIT_FAILED
    finally:
        conn.close()


class Fleet:
    """Runs the workers, at most args.parallel at a time, and feeds their output to an
    Output as it comes."""

    def __init__(self, targets: list[Target], args, output: Output):
        self.pending = list(targets)
        self.args = args
        self.output = output
        self.running: dict[int, Worker] = {}  # by pipe fd
        self.selector = selectors.DefaultSelector()
        self.codes: list[int] = []

    def run(self) -> int:
        sys.stdout.flush()  # a fork must not inherit unwritten output
        sys.stderr.flush()
        previous = {sig: signal.signal(sig, _raise_stopped) for sig in _STOPPING}
        try:
            try:
                while self.pending or self.running:
                    self._start_more()
                    for key, _ in self.selector.select():
                        self._read(key.fd, key.data)
                self.output.close()
                return max(self.codes, default=EXIT_OK)
            finally:
                # Whatever ends the run (Ctrl-C, SIGTERM, SIGHUP, a closed stdout, a
                # bug), no worker and no ssh outlives it.
                held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (*_STOPPING, SIGINT)}
                self._stop_all()
                for sig in _STOPPING:
                    signal.signal(sig, previous[sig])
                signal.signal(SIGINT, held[SIGINT])
                self.selector.close()
        except KeyboardInterrupt:
            self._interrupted()
            return EXIT_OK if is_streaming(self.args) else EXIT_FAILED
        except Stopped as exc:
            self._interrupted()
            return 128 + exc.signum
        except BrokenPipeError:
            # `| head` has read enough: end quietly, as other command-line tools do.
            _stdout_to_devnull()
            return EXIT_OK

    def _interrupted(self) -> None:
        try:
            self.output.interrupted()
        except BrokenPipeError:
            _stdout_to_devnull()

    def _start_more(self) -> None:
        workers = {id(w) for w in self.running.values()}
        while self.pending and len(workers) < self.args.parallel:
            worker = Worker(self.pending.pop(0), self.args)
            workers.add(id(worker))
            for fd in worker.fds:
                self.running[fd] = worker
                self.selector.register(fd, selectors.EVENT_READ, worker)

    def _read(self, fd: int, worker: Worker) -> None:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if data:
            worker.fds[fd].extend(data)
            self.output.data(worker, worker.fds[fd] is worker.err)
            return
        self.selector.unregister(fd)
        os.close(fd)
        del self.running[fd]
        if worker not in self.running.values():
            self.codes.append(worker.reap())
            self.output.finished(worker)

    def _stop_all(self) -> None:
        """Each running worker stopped (it closes its ssh) and reaped; the output it
        wrote meanwhile kept (what a finished worker printed is shown on interrupt)."""
        workers = list(dict.fromkeys(self.running.values()))
        for worker in workers:
            try:
                os.kill(worker.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for worker in workers:
            worker.reap()
        for fd in list(self.running):
            os.close(fd)
        self.running.clear()


def _stdout_to_devnull() -> None:
    """After EPIPE: what is left in stdout's buffer must not fail again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def die_with_parent(parent: int) -> None:
    """PR_SET_PDEATHSIG: SIGTERM to this process when the parent dies, even by SIGKILL
    (prctl(2)); and if it already has, end now."""
    import ctypes  # the -H worker only

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return  # not Linux: the signal handlers still cover every other exit
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
