"""The [alerts] shell on the loop: a state-change listener feeding alerts.AlertQueue,
one timer for the waiting batch, and delivery of each batch to the `exec` command (the
batch as JSON on its stdin) and the `webhook` (a JSON POST with a `text` field, as
Slack's incoming webhooks take it). A target that fails is logged with its reason; no
delivery ever blocks the loop or holds up supervision.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Callable

from supervisord_lite.alerts.batching import Alert, AlertQueue, alert_for, summary
from supervisord_lite.base import redact
from supervisord_lite.base.log import log
from supervisord_lite.base.names import host_node_name
from supervisord_lite.config.model import AlertsConfig
from supervisord_lite.linux.loop import now
from supervisord_lite.linux.spawn import spawn_helper


class Alerts:
    """Alerts for one daemon; `listener` goes into supervisor.listeners."""

    def __init__(self, config: AlertsConfig, loop, supervisor):
        self.config = config
        self.loop = loop
        self.supervisor = supervisor
        self.queue = AlertQueue(config.batch, config.rate_limit)
        self.timer = None
        self.host = host_node_name()
        self.held_logged = False  # the waiting batch's hold by rate_limit is logged

    def reconfigure(self, config: AlertsConfig) -> None:
        """A reload changed [alerts]: what waits is kept, sent by the new settings."""
        self.config = config
        self.queue.batch, self.queue.rate_limit = config.batch, config.rate_limit
        self.schedule()

    def listener(self, process, change) -> None:
        if change is None:
            return
        machine = process.machine
        alert = alert_for(self.config.on, process.name, process.program.group, change.old,
                          change.new, machine.last_exit_expected, machine.exitstatus,
                          change.reason, time.time())  # fmt: skip
        if alert is not None:
            self.add(alert)

    def notice_listener(self, process, item: dict) -> None:
        """A notice (supervisor.notice): a health check gone `unhealthy`, a missed
        `watchdog`, a `memory_limit` crossed or an OOM kill are alerts; `ready` and
        `healthy` are not news."""
        kind, reason = item.get("event"), item.get("reason", "")
        texts = {
            "unhealthy": f"{process.name} is unhealthy: {reason}",
            "watchdog": f"{process.name} missed its watchdog: {reason}",
            "memory_limit": f"{process.name}: {reason}",
            "oom_kill": f"{process.name} was {reason}",
        }
        if kind in texts:
            kind = "memory_limit" if kind == "oom_kill" else kind
            alert = Alert(
                kind, process.name, process.program.group, time.time(), texts[item["event"]]
            )
            self.add(alert)

    def add(self, alert: Alert) -> None:
        """An alert from anywhere (a state change, a failed health check, ...)."""
        if alert.kind not in self.config.on:
            return
        self.queue.add(alert, now())
        self.schedule()

    def schedule(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        current = now()
        due = self.queue.due_at(current)
        if due is None:
            return
        self.timer = self.loop.call_later(max(0.0, due - current), self.send_due)
        opened_at = self.queue.opened_at
        if due > opened_at + self.queue.batch and not self.held_logged:
            self.held_logged = True  # once per batch: it may grow for an hour
            when = time.strftime("%H:%M:%S", time.localtime(time.time() + due - current))
            log.warning("alerts: rate_limit of %d batches an hour reached: %d alerts held "
                        "until %s (more join them meanwhile)", self.queue.rate_limit,
                        len(self.queue.queued), when)  # fmt: skip

    def send_due(self) -> None:
        self.timer = None
        taken_at = now()
        taken = self.queue.take(taken_at)
        if taken is not None:
            self.held_logged = False
            alerts, dropped = taken
            payload = {
                "text": summary(alerts, dropped, self.host),
                "host": self.host,
                "dropped": dropped,
                "alerts": [a.as_json() for a in alerts],
            }
            body = json.dumps(payload).encode()
            targets = bool(self.config.exec) + bool(self.config.webhook)
            outcome = Outcome(targets, lambda: self._undelivered(taken_at, len(alerts)))
            if self.config.exec:
                self.run_exec(body, len(alerts), outcome.report)
            if self.config.webhook:
                self.post_webhook(body, len(alerts), outcome.report)
        self.schedule()

    def _undelivered(self, taken_at: float, count: int) -> None:
        self.queue.refund(taken_at)
        log.warning("alerts: no target took the batch of %d alerts; it does not count "
                    "against rate_limit", count)  # fmt: skip
        self.schedule()  # a batch held by the limit may go now

    # -- targets ------------------------------------------------------------------

    def run_exec(self, body: bytes, count: int, report: Callable[[bool], None]) -> None:
        """The command gets the batch on stdin, from an unlinked file: no pipe to feed
        from the loop, and a command that never reads cannot hold anything up."""
        argv = list(self.config.exec)
        try:
            fd = os.memfd_create("alerts", os.MFD_CLOEXEC)
        except (AttributeError, OSError):  # no memfd: an unlinked temporary file
            import tempfile

            fd = os.dup(tempfile.TemporaryFile().fileno())
        try:
            os.write(fd, body)
            os.lseek(fd, 0, os.SEEK_SET)
            pid = spawn_helper(argv, stdin_fd=fd)
        except OSError as exc:
            log.error("alerts: exec %s failed: %s (%d alerts not delivered)", argv[0],
                      exc.strerror or exc, count)  # fmt: skip
            report(False)
            return
        finally:
            os.close(fd)
        timeout = self.config.timeout
        timer = self.loop.call_later(timeout, lambda: self._kill_exec(pid, argv[0], timeout))

        def exited(code: int) -> None:
            timer.cancel()
            if code != 0:
                log.error("alerts: exec %s exited with %d (%d alerts)", argv[0], code, count)
            else:
                log.info("alerts: %d alerts given to %s", count, argv[0])
            report(code == 0)

        self.supervisor.watch_exit(pid, exited)

    @staticmethod
    def _kill_exec(pid: int, name: str, timeout: float) -> None:
        log.error("alerts: exec %s still running after %g s: killed", name, timeout)
        try:
            os.killpg(pid, signal.SIGKILL)  # its own session: its group is its pid
        except (ProcessLookupError, PermissionError):
            pass

    def post_webhook(self, body: bytes, count: int, report: Callable[[bool], None]) -> None:
        from supervisord_lite.alerts.http_post import Post  # h11 only for who posts

        url = self.config.webhook
        shown = redact.url(url)  # the path of a chat webhook is its secret

        def done(status: int | None, error: str | None) -> None:
            if error is not None:
                log.error("alerts: webhook %s failed: %s (%d alerts)", shown, error, count)
            elif not 200 <= status < 300:
                log.error("alerts: webhook %s answered %d (%d alerts)", shown, status, count)
            else:
                log.info("alerts: %d alerts posted to %s (%d)", count, shown, status)
            report(error is None and 200 <= status < 300)

        headers = [("Content-Type", "application/json"), ("User-Agent", "supervisord-lite")]
        Post(self.loop, self.supervisor.watch_exit, url, body, headers,
             self.config.timeout, done).start()  # fmt: skip


class Outcome:
    """Whether a batch reached any of its targets; `undelivered()` once all have
    answered and none took it."""

    def __init__(self, targets: int, undelivered: Callable[[], None]):
        self.pending = targets
        self.delivered = False
        self.undelivered = undelivered

    def report(self, ok: bool) -> None:
        self.pending -= 1
        self.delivered = self.delivered or ok
        if self.pending == 0 and not self.delivered:
            self.undelivered()
