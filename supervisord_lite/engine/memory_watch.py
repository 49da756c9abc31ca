"""memory_limit: the resident memory of each limited process's whole tree, sampled by
one loop timer; over the limit, the process is restarted.

The timer exists only while a process with a memory_limit has a live child: it is
armed at such a spawn and not re-armed by a tick that finds none, so a daemon with no
limits (or none running) never wakes for it. Each tick reads the limited processes'
trees only (engine/tree_figures.py), at the smallest memory_check_interval among them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable

from supervisord_lite.base.log import log
from supervisord_lite.core.states import ProcessState

if TYPE_CHECKING:
    from supervisord_lite.core.process import Process
    from supervisord_lite.engine.figures import FiguresReading
    from supervisord_lite.linux.loop import EventLoop, Timer


S = ProcessState
_ENFORCED = (S.STARTING, S.RUNNING)  # a STOPPING process is on its way out already


class MemoryWatch:
    """Given what it needs of the supervisor: the loop for its timer, the process
    table, a reading of the trees' figures, and the restart to ask for."""

    def __init__(
        self,
        loop: EventLoop,
        processes: Callable[[], Iterable[Process]],
        figures_reading: Callable[[], FiguresReading],
        restart_for: Callable[[Process, dict], None],
    ):
        self.loop = loop
        self.processes = processes
        self.figures_reading = figures_reading
        self.restart_for = restart_for  # restart it; the dict (why) goes to the events
        self.timer: Timer | None = None

    def spawned(self, process: Process) -> None:
        """A child of `process` started: make sure someone is watching, if it has a limit."""
        if process.program.memory_limit is not None and self.timer is None:
            self._arm(process.program.memory_check_interval)

    def _arm(self, interval: float) -> None:
        self.timer = self.loop.call_later(interval, self.tick)

    def _limited(self) -> list[Process]:
        return [
            p for p in self.processes() if p.program.memory_limit is not None and p.pid is not None
        ]

    def tick(self) -> None:
        self.timer = None
        limited = self._limited()
        if not limited:
            return  # disarmed until a limited process spawns again
        reading = self.figures_reading()
        for process in limited:
            if process.state in _ENFORCED and process.pid is not None:
                rss = reading.totals(process)[0]
                if rss > process.program.memory_limit:
                    self._over(process, rss)
        self._arm(min(p.program.memory_check_interval for p in limited))

    def _over(self, process: Process, rss: int) -> None:
        limit = process.program.memory_limit
        reason = (
            f"memory {mib(rss)} over the limit of {mib(limit)} (+{mib(rss - limit)}): restarting"
        )
        log.warning("%s: %s", process.name, reason)
        event = {
            "event": "memory_limit",
            "reason": reason,
            "memory_bytes": rss,
            "memory_limit": limit,
            "over_bytes": rss - limit,
        }
        self.restart_for(process, event)


def mib(size: int) -> str:
    """512 MiB, 612.3 MiB: a size as a person reads it."""
    value = size / 1024**2
    return f"{value:.0f} MiB" if value == int(value) else f"{value:.1f} MiB"
