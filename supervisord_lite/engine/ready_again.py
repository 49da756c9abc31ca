"""After a `reload_signal` (restart --rolling), wait until the program's tcp, http or
exec `ready` probe passes again: the first attempt one `interval` after the signal,
then one per `interval`, for at most the probe's `timeout` (docs/zero-downtime.md).

A `notify` or `log` probe has nothing to ask again (a reloading program need not send
READY=1 or print its line a second time): the signal alone counts, as without a probe.
"""

from __future__ import annotations

from typing import Callable

from supervisord_lite.core.process import Process
from supervisord_lite.linux.loop import EventLoop, now
from supervisord_lite.probes.attempts import ExecAttempt, HttpAttempt, TcpAttempt

ASKABLE = ("tcp", "http", "exec")

# (ok, reason) once the probe passed, or its time is up
Verdict = Callable[[bool, str], None]


class ReadyAgain:
    """One wait: probe `process` until its ready probe passes or times out."""

    def __init__(
        self,
        loop: EventLoop,
        process: Process,
        spawn_probe: Callable[[Process, tuple], int],
        watch_exit,
        verdict: Verdict,
    ):
        self.loop = loop
        self.process = process
        self.probe = process.program.ready
        self.spawn_probe = spawn_probe
        self.watch_exit = watch_exit
        self.verdict = verdict
        self.deadline = now() + self.probe.timeout
        self.attempt = None
        self.timer = loop.call_later(self.probe.interval, self._try)
        self.last = "no attempt yet"
        self.over = False

    def cancel(self) -> None:
        self.over = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.attempt is not None:
            self.attempt.cancel()
            self.attempt = None

    def _try(self) -> None:
        self.timer = None
        if self.over:
            return
        probe = self.probe
        if probe.kind == "exec":
            attempt = ExecAttempt(
                lambda: self.spawn_probe(self.process, probe.target),
                self.watch_exit,
                self._result,
                probe.target,
            )
        elif probe.kind == "http":
            attempt = HttpAttempt(self.loop, probe, self._result)
        else:
            attempt = TcpAttempt(self.loop, probe, self._result)
        self.attempt = attempt
        # An attempt gets at most one interval (and never past the deadline).
        limit = max(0.05, min(probe.interval, self.deadline - now()))
        self.timer = self.loop.call_later(limit, self._attempt_timed_out)
        attempt.start()

    def _attempt_timed_out(self) -> None:
        self.timer = None
        if self.attempt is not None:
            self.attempt.cancel()
            self._result(False, f"{self.probe.describe()}: no answer in time")

    def _result(self, ok: bool, reason: str) -> None:
        if self.over:
            return
        self.attempt = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.last = reason
        if ok:
            self.over = True
            self.verdict(True, reason)
        elif now() + self.probe.interval > self.deadline:
            self.over = True
            self.verdict(False, f"not ready again within {self.probe.timeout:g}s: {reason}")
        else:
            self.timer = self.loop.call_later(self.probe.interval, self._try)
