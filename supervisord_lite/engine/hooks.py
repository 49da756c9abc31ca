"""Hooks around a program's start and stop (docs/lifecycle.md): exec_start_pre,
exec_start_post, exec_stop, exec_stop_post.

Each hook command runs as a child of the daemon, never waited for on the loop: started
with the program's user, directory and environment (plus MAINPID where there is one),
reaped by the reaper like an exec probe, its output (stdout and stderr together) copied
into the program's stderr log, and killed with its whole process group when it outlives
`hook_timeout`. The commands of one process run one at a time, in the order they were
asked for: an exec_stop_post still running holds back the next start's exec_start_pre.

The machine (core/states.py) knows nothing of hooks: the supervisor routes a Spawn
effect through `spawn` (exec_start_pre first), a stop signal through `stop` (exec_stop
instead of it), and tells `exited` and `transitioned`. A start a hook held back always
gets its answer: the spawn, or SpawnFailed with the reason.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from typing import Callable, Protocol

from supervisord_lite.base.log import log
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import ProcessState, SpawnFailed, StateChanged, describe_exit
from supervisord_lite.linux.loop import EventLoop, Timer, now
from supervisord_lite.linux.spawn import SpawnError, spawn
from supervisord_lite.logs import daemon_log
from supervisord_lite.logs.logfile import LogFile
from supervisord_lite.logs.pipes import PipeReader

S = ProcessState
OUTPUT_TAIL = 400  # bytes of a failing hook's output quoted in the reason
# Hooks a stop makes pointless: they are killed (start_pre: the start is off) or skipped.
_START_HOOKS = ("exec_start_pre", "exec_start_post")


class HooksHost(Protocol):
    """What the hooks need of the supervisor."""

    loop: EventLoop

    def dispatch(self, process: Process, event) -> None: ...

    def spawn_now(self, process: Process) -> None:
        """Carry out the Spawn effect itself (children.py)."""

    def send_signal(self, process: Process, signum: int) -> bool: ...

    def open_log(self, process: Process, stream: str) -> LogFile | None: ...

    def notice(self, process: Process, item: dict) -> None: ...

    def watch_exit(self, pid: int, on_exit: Callable[[int], None], group: bool) -> None: ...

    def still_watched(self, pid: int) -> bool:
        """pid is not reaped yet (so neither it nor its group id can be recycled)."""


class Batch:
    """One hook key's commands for one process, with what to do once they are done:
    then(None) when each exited 0, then(reason) at the first that did not."""

    __slots__ = ("kind", "commands", "env", "then")

    def __init__(self, kind, commands, env: dict[bytes, bytes], then):
        self.kind: str = kind
        self.commands: deque[tuple[str, ...]] = deque(commands)
        self.env = env
        self.then: Callable[[str | None], None] = then


class Running:
    """The hook command running now for a process."""

    __slots__ = ("batch", "argv", "pid", "timer", "reader", "tail", "timed_out", "killed")

    def __init__(self, batch: Batch, argv: tuple[str, ...]):
        self.batch, self.argv = batch, argv
        self.pid = 0
        self.timer: Timer | None = None
        self.reader: PipeReader | None = None
        self.tail = b""
        self.timed_out = False
        self.killed: str | None = None  # why we killed it (a stop), if we did


_STEPPING = Running(Batch("", (), {}, None), ())  # in _running: the queue is being stepped


class Hooks:
    """The hook commands of every process: one queue per process, run one at a time."""

    def __init__(self, host: HooksHost):
        self.host = host
        self._queues: dict[Process, deque[Batch]] = {}
        self._running: dict[Process, Running] = {}
        self._idle_waiters: list[Callable[[], None]] = []

    # -- what the supervisor routes here ------------------------------------------------

    def spawn(self, process: Process) -> None:
        """A Spawn effect: exec_start_pre first (after any hook still running), then the
        spawn itself; SpawnFailed when a pre hook fails or a stop came first."""

        def then(error: str | None) -> None:
            if process.state is S.STOPPING or process.retired is not None:
                error = error or "stopped before it was spawned"
            if process.pid is not None or process.state not in (S.STARTING, S.STOPPING):
                return  # nothing waits for this spawn any more
            if error is not None:
                self.host.dispatch(process, SpawnFailed(error, now()))
            else:
                self.host.spawn_now(process)

        self._queue(process, "exec_start_pre", process.program.exec_start_pre, {}, then)

    def stop(self, process: Process, signum: int) -> None:
        """The stop signal of a program with exec_stop: its commands instead; what is
        still alive afterwards gets the stop signal (stopwaitsecs, then SIGKILL, stay
        the machine's)."""
        pid = process.pid

        def then(error: str | None) -> None:
            if process.pid == pid and pid is not None:
                self.host.send_signal(process, signum)

        self._queue(process, "exec_stop", process.program.exec_stop, _mainpid(pid), then)

    def exited(self, process: Process, pid: int, exitstatus: int) -> None:
        """The main process exited (before the machine hears of it): exec_stop_post is
        queued first, so that a restart's exec_start_pre comes after it."""
        commands = process.program.exec_stop_post
        if commands:
            env = {**_mainpid(pid), b"EXIT_STATUS": str(exitstatus).encode()}
            self._queue(process, "exec_stop_post", commands, env, lambda error: None)

    def transitioned(self, process: Process, change: StateChanged) -> None:
        # After RUNNING; for a oneshot (never RUNNING), once it completed, as systemd.
        up = change.new is S.RUNNING or (change.new is S.EXITED and change.old is S.STARTING)
        if up and process.program.exec_start_post:
            env = _mainpid(process.pid)
            self._queue(process, "exec_start_post", process.program.exec_start_post, env, _none)
        elif change.new is S.STOPPING:
            self._cancel_start_hooks(process, "stopped")

    def when_idle(self, callback: Callable[[], None]) -> None:
        """callback() once no hook runs (at once if none does): shutdown waits for the
        stop hooks, each bounded by its hook_timeout."""
        if not self._running:
            callback()
        else:
            self._idle_waiters.append(callback)

    # -- the queue ------------------------------------------------------------------------

    def _queue(self, process, kind, commands, env, then) -> None:
        queue = self._queues.setdefault(process, deque())
        queue.append(Batch(kind, commands, env, then))
        if process not in self._running:  # else the one running (or stepping) goes on
            self._next(process)

    def _cancel_start_hooks(self, process: Process, why: str) -> None:
        running = self._running.get(process)
        if running is not None and running is not _STEPPING and running.batch.kind in _START_HOOKS:
            running.batch.commands.clear()
            self._kill(process, running, why)
        queue = self._queues.get(process)
        if not queue:
            return
        current = running.batch if isinstance(running, Running) else None
        waiting = [b for b in queue if b.kind in _START_HOOKS and b is not current]
        for batch in waiting:
            # Queued behind a stop hook: answered now, not once that hook is done (after
            # this step: the machine is still carrying out the stop's effects).
            queue.remove(batch)
            self.host.loop.call_soon(lambda then=batch.then: then(why))

    def _next(self, process: Process) -> None:
        """Start the next command of the process's queue, or finish batches."""
        queue = self._queues.get(process)
        # Marked busy while stepping: a then() that queues more (a spawn reaching
        # RUNNING queues exec_start_post) must not start a second command beside ours.
        self._running[process] = _STEPPING
        while queue:
            batch = queue[0]
            if not batch.commands:
                queue.popleft()
                batch.then(None)
                continue
            argv = batch.commands.popleft()
            if self._start(process, batch, argv):
                return
        self._queues.pop(process, None)
        self._running.pop(process, None)
        if not self._running:
            waiters, self._idle_waiters = self._idle_waiters, []
            for callback in waiters:
                callback()

    def _start(self, process: Process, batch: Batch, argv: tuple[str, ...]) -> bool:
        """Start one command; False (the batch failed, then() told) if it cannot start."""
        program = process.settings()  # this process's own values ({process_num} filled in)
        run = Running(batch, argv)
        hook_program = program.replace(command=argv, redirect_stderr=True, stdin=False)
        extra = {**batch.env, b"SUPERVISOR_HOOK": batch.kind.encode()}
        try:
            child = spawn(hook_program, process.num, True, False, extra_env=extra)
        except SpawnError as exc:
            self._failed(process, run, f"cannot start: {exc}")
            return False
        run.pid = child.pid
        self._running[process] = run
        process.hook = f"{batch.kind}: {' '.join(argv)} (pid {child.pid})"
        process.stamp = None
        daemon_log.info("%s: %s started: %s (pid %d)", process.name, batch.kind, argv[0], run.pid)
        logfile = self.host.open_log(process, "stdout" if program.redirect_stderr else "stderr")
        if child.stdout_fd is not None:
            run.reader = self._reader(process, run, child.stdout_fd, logfile)
        run.timer = self.host.loop.call_later(
            program.hook_timeout, lambda: self._timeout(process, run)
        )
        self.host.watch_exit(run.pid, lambda status: self._exited(process, run, status), True)
        return True

    def _reader(self, process, run: Running, fd: int, logfile: LogFile | None) -> PipeReader:
        loop = self.host.loop

        def tap(data: bytes) -> None:
            run.tail = (run.tail + data)[-OUTPUT_TAIL:]
            if logfile is not None:
                logfile.write(data)

        reader = PipeReader(
            fd, None, process, lambda r: r.drain(), lambda r: loop.remove_reader(r.fd)
        )
        reader.tap = tap
        loop.add_reader(fd, reader)
        return reader

    def _timeout(self, process: Process, run: Running) -> None:
        run.timer = None
        run.timed_out = True
        self._kill(process, run, None)

    def _kill(self, process: Process, run: Running, why: str | None) -> None:
        if why is not None:
            run.killed = why
        if not self.host.still_watched(run.pid):
            return  # reaped already (its exit is on its way): the pid may be another's
        try:
            os.killpg(run.pid, signal.SIGKILL)  # the hook's own session: all of it
        except (ProcessLookupError, PermissionError):
            pass

    def _exited(self, process: Process, run: Running, exitstatus: int) -> None:
        if run.timer is not None:
            run.timer.cancel()
        if run.reader is not None:
            run.reader.drain_all()  # what it wrote before exiting
            if run.reader.fd >= 0:
                self.host.loop.remove_reader(run.reader.fd)
                run.reader.close()
        process.hook = None
        process.stamp = None
        if run.timed_out:
            timeout = process.program.hook_timeout
            self._failed(process, run, f"did not finish within hook_timeout ({timeout:g}s): killed")
        elif run.killed is not None:
            self._failed(process, run, f"{run.killed}: killed")
        elif exitstatus != 0:
            self._failed(process, run, describe_exit(exitstatus))
        else:
            daemon_log.info(
                "%s: %s exited: %s (exit status 0)", process.name, run.batch.kind, run.argv[0]
            )
            self._tell(process, run, "exit status 0", ok=True)
        self._next(process)

    def _failed(self, process: Process, run: Running, what: str) -> None:
        """A command failed: the rest of its batch is skipped, then() gets the reason."""
        batch = run.batch
        output = run.tail.decode("utf-8", "replace").strip()
        reason = f"{batch.kind} {' '.join(run.argv)}: {what}"
        if output:
            reason += f"; output: {output}"
        log.warning("%s: %s", process.name, reason)
        self._tell(process, run, what, ok=False)
        batch.commands.clear()
        queue = self._queues.get(process)
        if queue and queue[0] is batch:
            queue.popleft()
        batch.then(reason)

    def _tell(self, process: Process, run: Running, result: str, ok: bool) -> None:
        item = {
            "event": "hook",
            "hook": run.batch.kind,
            "argv": list(run.argv),
            "ok": ok,
            "reason": result,
        }
        self.host.notice(process, item)


def _mainpid(pid: int | None) -> dict[bytes, bytes]:
    return {b"MAINPID": str(pid).encode()} if pid is not None else {}


def _none(error: str | None) -> None:
    pass
