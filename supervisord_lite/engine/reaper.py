"""Reaping: every exited child collected at once, what is left of its group killed first.

It owns no table: it looks exits up in the supervisor's pid table, drops the pid from it
in the same step that reaps it (so a signal can never reach a recycled pid), and hands
each exit of ours to the supervisor. It must not act on an exit itself.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Callable

from supervisord_lite.base.log import log

if TYPE_CHECKING:
    from supervisord_lite.core.process import Process
    from supervisord_lite.linux.loop import EventLoop


class Reaper:
    def __init__(
        self,
        loop: EventLoop,
        by_pid: dict[int, Process],
        on_reaped: Callable[[Process], None],
        on_exit: Callable[[Process, int], None],
    ):
        self.loop = loop
        self.by_pid = by_pid  # the supervisor's: shared, not copied
        self.on_reaped = on_reaped  # told at once, as the pid leaves the table
        self.on_exit = on_exit  # told after collecting, to act on the exit
        self._deferred: list[tuple[Process, int]] = []  # reaped, not yet acted on
        # Children outside the table whose exit someone waits for (exec probes, alert
        # commands, name lookups: spawn.spawn_helper).
        self.watched: dict[int, Callable[[int], None]] = {}
        # Watched children whose process group dies with them (hooks: a hook's
        # leftovers must not outlive it), killed before the pid is reaped.
        self.watched_groups: set[int] = set()
        # What is left of an exited main process's tree dies with it (its process group;
        # the supervisor adds its cgroup when cgroups are in force).
        self.kill_leftovers: Callable[[Process, int], None] = kill_group_leftovers

    def reap(self) -> None:
        """Reap every exited child (signals coalesce: one SIGCHLD may stand for many).

        Exits are acted on after collecting them: acting on one may spawn a replacement,
        and a child that dies as fast as we respawn it must not keep this handler from
        returning to select. Between two exits acted on we still reap (only reap), so a
        crash storm leaves no zombie for longer than one spawn; what that collects is
        acted on in the next loop turn, after the loop has served its other fds.
        """
        exits, self._deferred = self._deferred + self._collect(), []
        for process, exitstatus in exits:
            try:
                self.on_exit(process, exitstatus)
            except Exception:
                # These children are reaped already: a bug while acting on one exit
                # must not leave the others RUNNING with a dead pid forever.
                log.exception("%s: internal error handling its exit", process.name)
            self._deferred += self._collect()
        if self._deferred:
            self.loop.call_later(0, self.reap)

    def _collect(self) -> list[tuple[Process, int]]:
        """Reap every child that has exited by now; return ours with their exit codes."""
        exits: list[tuple[Process, int]] = []
        while True:
            try:
                # WNOWAIT: look without reaping, so the exited leader stays a zombie
                # and its pid, which is also its group id, cannot be recycled while
                # we kill what is left of its group.
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return exits
            if info is None or info.si_pid == 0:
                return exits
            pid = info.si_pid
            process = self.by_pid.get(pid)
            if process is not None and process.program.stopasgroup:
                self.kill_leftovers(process, pid)
            elif process is None and pid in self.watched_groups:
                self.watched_groups.discard(pid)
                _kill_group(pid)
            try:
                _, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if process is None:
                on_exit = self.watched.pop(pid, None)
                if on_exit is not None:
                    code = os.waitstatus_to_exitcode(status)
                    self.loop.call_soon(lambda f=on_exit, c=code: f(c))
                continue  # else an orphan re-parented to us (we are a subreaper): just reap it
            del self.by_pid[pid]
            self.on_reaped(process)
            exits.append((process, os.waitstatus_to_exitcode(status)))


def kill_group_leftovers(process: Process, pgid: int) -> None:
    # docs/states.md, "Leftovers": what is left of a program's group dies with its main
    # process, so a restarted service never fights its own orphaned workers for a port.
    _kill_group(pgid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
