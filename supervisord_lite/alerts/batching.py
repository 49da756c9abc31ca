"""[alerts]: which changes are alerts, and when a batch of them goes out.

The core is pure: `alert_for` turns a state change into an alert (or nothing), and
`AlertQueue` decides from `now` alone when to send what (a batch window, a rate limit,
a bounded queue), tested by histories like core/states.py. The loop shell that feeds it and
the delivery to `exec` and `webhook` targets are send.py's.
"""

from __future__ import annotations

import re
from collections import deque

from supervisord_lite.base.frozen import Frozen, _set
from supervisord_lite.core.states import ProcessState

S = ProcessState
MAX_QUEUED = 1000  # past this the oldest alerts are dropped (and the next batch says so)
RATE_WINDOW = 3600.0  # rate_limit counts deliveries over the last hour
# An alert's text carries what a program or a server said (a probe's failure, an exit
# reason): bounded, so that a chatty one cannot make a batch huge, and one line each.
MAX_TEXT = 500  # characters of one alert's text
MAX_LINES = 50  # alerts listed in a batch's `text`; the `alerts` array has them all
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # C0, C1, line breaks


class Alert(Frozen):
    """One thing worth telling: what, to whom, when."""

    __slots__ = ("kind", "process", "group", "time", "text", "exitstatus")

    def __init__(
        self, kind: str, process: str, group: str, time: float, text: str, exitstatus=None
    ):
        for key, value in locals().items():
            if key != "self":
                _set(self, key, value)
        _set(self, "text", one_line(text))

    def as_json(self) -> dict:
        return self.fields()


def alert_for(
    kind_on: tuple[str, ...],
    name: str,
    group: str,
    old: ProcessState,
    new: ProcessState,
    expected_exit: bool | None,
    exitstatus: int | None,
    reason: str,
    wall: float,
) -> Alert | None:
    """The alert a state change makes, if its kind is one of `kind_on`.

    crashed: RUNNING -> EXITED with an exit code not in `exitcodes` (supervisor's
    crashmail: PROCESS_STATE_EXITED, expected=0); fatal: -> FATAL (no more retries)."""
    if new is S.EXITED and old is S.RUNNING and expected_exit is False:
        kind = "crashed"
        text = f"{name} crashed: {reason}"
    elif new is S.FATAL and old is not S.FATAL:
        kind = "fatal"
        text = f"{name} is FATAL: {reason}"
    else:
        return None
    if kind not in kind_on:
        return None
    return Alert(kind, name, group, wall, text, exitstatus)


class AlertQueue:
    """When alerts go out. A batch opens with its first alert and goes out `batch`
    seconds later with everything queued by then; at most `rate_limit` batches an hour,
    the next one waits (growing) until the hour allows it. Nothing is dropped unless
    more than MAX_QUEUED wait: then the oldest go, and the next batch counts them.

    A batch spends its place in the hour when it is taken (two deliveries in flight
    cannot both squeeze under the limit) and gets it back with `refund` if no target
    took it: a broken target must not use up the hour, or alerts would stay silent for
    up to an hour after it is fixed."""

    def __init__(self, batch: float, rate_limit: int):
        self.batch = batch
        self.rate_limit = rate_limit
        self.queued: deque[Alert] = deque()
        self.dropped = 0
        self.sent_at: deque[float] = deque()  # when each batch of the last hour went
        self.opened_at: float | None = None  # when the waiting batch's first alert came

    def add(self, alert: Alert, now: float) -> None:
        if self.opened_at is None:
            self.opened_at = now
        self.queued.append(alert)
        while len(self.queued) > MAX_QUEUED:
            self.queued.popleft()
            self.dropped += 1

    def due_at(self, now: float) -> float | None:
        """When the waiting batch may go (None: nothing waits)."""
        if self.opened_at is None:
            return None
        return max(self.opened_at + self.batch, self.held_until(now) or 0.0)

    def held_until(self, now: float) -> float | None:
        """While the hour's rate_limit is used up: when the oldest batch in it ages out
        and the next may go. None when the limit holds nothing back."""
        while self.sent_at and self.sent_at[0] <= now - RATE_WINDOW:
            self.sent_at.popleft()
        if len(self.sent_at) >= self.rate_limit:
            return self.sent_at[0] + RATE_WINDOW
        return None

    def refund(self, taken_at: float) -> None:
        """The batch taken at `taken_at` reached no target: its place in the hour is free."""
        try:
            self.sent_at.remove(taken_at)
        except ValueError:
            pass  # aged out of the hour meanwhile

    def take(self, now: float) -> tuple[list[Alert], int] | None:
        """The batch to send now, and how many alerts were dropped before it; None if
        nothing is due."""
        due = self.due_at(now)
        if due is None or now < due:
            return None
        batch, dropped = list(self.queued), self.dropped
        self.queued.clear()
        self.dropped = 0
        self.opened_at = None
        self.sent_at.append(now)
        return batch, dropped


def one_line(text: str) -> str:
    """Text as one bounded line: control characters (a newline would fake another
    alert's line) become a space, and past MAX_TEXT it is cut."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def slack_escape(text: str) -> str:
    """Slack's three control characters as its formatting rules ask (api.slack.com,
    "Escaping text"): `<!channel>`, `<https://x|click>` and `&` entities in what a
    program said are shown, never acted on."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary(alerts: list[Alert], dropped: int, host: str) -> str:
    """The human text of a batch (Slack shows `text`): escaped for Slack, at most
    MAX_LINES alerts listed."""
    head = f"supervisord-lite on {host}: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
    if dropped:
        head += f" ({dropped} older alerts dropped: more than {MAX_QUEUED} were waiting)"
    lines = [head, *(f"- {a.text}" for a in alerts[:MAX_LINES])]
    if len(alerts) > MAX_LINES:
        lines.append(f"- and {len(alerts) - MAX_LINES} more (every one is in `alerts`)")
    return slack_escape("\n".join(lines))
