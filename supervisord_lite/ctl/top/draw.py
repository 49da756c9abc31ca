"""`supervisorctl-lite top`: what the screen shows, as text markup (no library here:
view.py hands it to urwid, the benchmark times it alone).

Only the rows that fit are formatted, so a frame costs the same with 1000 processes as
with 40; the sorted, filtered order is the model's, computed again only after a change.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from supervisord_lite.ctl.top.model import Model, Row, cells, columns, fit, printable


class Top(Protocol):
    """What a frame reads of the view's state (view.py's Top is one); the scroll
    position (first, table_height) it also sets, to keep the selection on screen."""

    model: Model
    links: list[Any]  # view's Links: only their .host is read here
    with_host: bool
    down: dict[str, str]
    selected: tuple[str, str] | None
    first: int
    table_height: int
    filtering: bool
    message: tuple[str, bool]
    follow: bool
    stream: str
    log: Any  # a LogTail, or None while no log is shown
    log_lines: list[str]
    log_partial: str
    log_note: str

    def current(self, order: list[Row]) -> int: ...


# urwid's palette: (attribute, foreground, background). A state's name is its colour.
PALETTE = [
    ("title", "bold", ""),
    ("heading", "black", "light gray"),
    ("selected", "black", "light cyan"),
    ("RUNNING", "light green", ""),
    ("STARTING", "yellow", ""),
    ("BACKOFF", "yellow", ""),
    ("STOPPING", "yellow", ""),
    ("STOPPED", "light gray", ""),
    ("EXITED", "brown", ""),
    ("FATAL", "light red", ""),
    ("unhealthy", "light red", ""),
    ("rule", "dark gray", ""),
    ("key", "bold", ""),
    ("error", "light red", ""),
]
# The footer's keys (view.Top.key does them).
KEYS = [("t", "start"), ("s", "stop"), ("r", "restart"), ("f", "follow"), ("e", "stderr"),
        ("/", "filter"), ("o", "sort"), ("O", "reverse"), ("q", "quit")]  # fmt: skip


def markup(top: Top, cols: int, height: int) -> list:
    """The whole screen as urwid text markup: one (attribute, text) list, lines
    separated by newlines, exactly `height` of them."""
    now = time.monotonic()
    cols_spec = columns(top.with_host, [lk.host for lk in top.links])
    order = top.model.order(now)
    free = max(0, height - 4)  # title, headings, the log's rule, footer
    log_height = free * 2 // 5 if free >= 10 else 0
    top.table_height = max(1, free - log_height)
    index = top.current(order)
    if index < top.first:
        top.first = index
    elif index >= top.first + top.table_height:
        top.first = index - top.table_height + 1
    top.first = max(0, min(top.first, len(order) - top.table_height))
    lines: list[list] = [_title(top, now)]
    lines.append([("heading", _headings(cols_spec, cols))])
    shown = order[top.first : top.first + top.table_height]
    for row in shown:
        lines.append(_row(row, cols_spec, now, (row.host, row.name) == top.selected))
    if not order:
        lines.append(["(no process matches the filter)" if top.model.rows else "waiting…"])
    lines += [[""]] * (top.table_height - max(len(shown), 1 if not order else 0))
    if log_height:
        lines.append([("rule", _log_rule(top, cols))])
        # log_lines are clean already; the unfinished line is cleaned as it is drawn
        log = top.log_lines + ([printable(top.log_partial)] if top.log_partial else [])
        tail = log[-(log_height - 1 if top.log_note else log_height) :] if log else []
        tail = [[line] for line in tail]
        if top.log_note:
            tail.append([("error", printable(top.log_note))])
        lines += tail + [[""]] * (log_height - len(tail))
    else:
        lines.append([("rule", "")])
    lines.append(_footer(top))
    out: list = []
    for i, line in enumerate(lines[:height]):
        if i:
            out.append("\n")
        out.extend(part for part in line if part)
    return out or [""]


def _title(top: Top, now: float) -> list:
    sort = f"sort: {top.model.sort} {'desc' if top.model.descending else 'asc'}"
    parts = [("title", "supervisord-lite top"), f"  {top.model.summary()}  {sort}"]
    if top.model.filter_text or top.filtering:
        parts.append(f"  filter: {printable(top.model.filter_text)}")
    late = [lk for lk in top.links if lk.stale_for(now) >= 2]
    for link in late:
        label = f"{link.host}: " if top.with_host else ""
        parts.append(("error", f"  {label}no answer for {link.stale_for(now):.0f} s"))
    for host, why in top.down.items():
        parts.append(("error", f"  {host} down: {printable(why)}"))
    return parts


def _headings(cols_spec, width: int) -> str:
    text = " ".join(fit(title, w, right) for _, title, w, right in cols_spec)
    return text[:width].ljust(width)


def _row(row: Row, cols_spec, now: float, selected: bool) -> list:
    values = cells(row, now)
    if selected:
        text = " ".join(fit(values[k], w, right) for k, _, w, right in cols_spec)
        return [("selected", text + " " * 400)]
    parts: list = []
    for i, (key, _, w, right) in enumerate(cols_spec):
        text = fit(values[key], w, right) + (" " if i < len(cols_spec) - 1 else "")
        if key == "state":
            parts.append((row.state if row.state in _STATES else "", text))
        elif key == "health" and row.health == "unhealthy":
            parts.append(("unhealthy", text))
        else:
            parts.append(text)
    return parts


def _log_rule(top: Top, cols: int) -> str:
    if top.selected is None:
        return "\u2500" * cols
    host, name = top.selected
    where = f" on {host}" if top.with_host else ""
    state = "following" if top.follow and top.log is not None else "paused"
    label = f"\u2500 log of {printable(name)}{where} ({top.stream}, {state}) "
    return (label + "\u2500" * cols)[:cols]


def _footer(top: Top) -> list:
    if top.filtering:
        return [("key", "filter: "), printable(top.model.filter_text), ("key", "_"),
                "  (enter keeps it, esc clears it)"]  # fmt: skip
    text, is_error = top.message
    if text:
        return [("error" if is_error else "", text)]
    out: list = []
    for key, what in KEYS:
        out += [("key", key), f" {what}  "]
    return out


_STATES = {name for name, *_ in PALETTE}
