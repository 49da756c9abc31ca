"""sd_notify upkeep while the daemon runs: WATCHDOG=1 pings and STATUS= updates.

Both are no-ops unless systemd (or another NOTIFY_SOCKET listener) is watching, so an
ordinary daemon pays nothing: no timer, no listener.
"""

from __future__ import annotations

import os
from typing import Callable

from supervisord_lite.linux.loop import EventLoop, Timer
from supervisord_lite.systemd.notify import notify_socket_path, sd_notify


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between the deadlines systemd expects pings by, or None when not asked to ping.

    sd_watchdog_enabled(3): WATCHDOG_USEC is the interval in microseconds; when
    WATCHDOG_PID is set, the request is only for that pid (a child inheriting the
    environment must not ping on its parent's behalf).
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    return usec / 1_000_000


class Notifier:
    """Pings the watchdog at half its interval and sends STATUS= whenever the summary changes."""

    def __init__(self, loop: EventLoop, summary: Callable[[], str]):
        self.loop = loop
        self.summary = summary
        self.interval: float | None = None
        self.last_status: str | None = None
        self.timer: Timer | None = None
        self._status_pending = False
        # Read once: the daemon never changes its environment, and this is asked on
        # every state change (thousands a second in a crash storm).
        self.active = notify_socket_path() is not None

    def start(self, sent_status: str | None = None) -> None:
        """Call once READY=1 has gone out (with STATUS=sent_status)."""
        self.last_status = sent_status
        if not self.active:
            return
        self.interval = watchdog_interval()
        if self.interval:
            # systemd's advice (sd_watchdog_enabled(3)): ping at half the interval, so one
            # late wakeup never costs a restart.
            self.timer = self.loop.call_later(self.interval / 2, self._tick)

    def _tick(self) -> None:
        sd_notify("WATCHDOG=1")
        self._send_status()
        self.timer = self.loop.call_later(self.interval / 2, self._tick)

    def state_changed(self, *_: object) -> None:
        """A supervisor listener: coalesce a burst of transitions into one STATUS= check."""
        if self._status_pending or not self.active:
            return
        self._status_pending = True
        self.loop.call_soon(self._send_status)

    def _send_status(self) -> None:
        self._status_pending = False
        status = self.summary()
        if status != self.last_status:
            self.last_status = status
            sd_notify(f"STATUS={status}")

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
