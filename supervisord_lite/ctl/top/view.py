"""`supervisorctl-lite top`: the full-screen view, on urwid (the `top` extra).

Only this module imports urwid, and only `top` imports this module. The whole screen
is one widget drawn as one clipped text: the title, the column headings, the rows that
fit (only those are formatted), the selected process's log and a footer with the keys.
urwid's own select loop watches the daemons' connections (link.py); every
exit, normal or not, goes through urwid's MainLoop.run, which puts the terminal back
(alternate screen left, cursor shown, termios restored) before anything is printed.
"""

from __future__ import annotations

import time

import urwid

from supervisord_lite.ctl.top.draw import PALETTE, markup
from supervisord_lite.ctl.top.link import Link, LogTail
from supervisord_lite.ctl.top.model import Model, Row, printable

TICK = 0.25  # status polls come due, uptimes tick, overdue daemons show
LOG_DELAY = 0.2  # the log follows a selection that has stopped moving
MAX_LOG_LINES = 1000
MAX_LINE = 4096  # characters of an unfinished log line kept before it is shown as one
MESSAGE_SECONDS = 6  # how long what a command did stays in the footer


class TopScreen(urwid.Widget):
    """Everything on the screen, and what the keys do."""

    _sizing = frozenset(["box"])
    _selectable = True

    def __init__(self, top: Top):
        super().__init__()
        self.top = top

    def render(self, size, focus=False):
        cols, rows = size
        return urwid.Text(markup(self.top, cols, rows), wrap="clip").render((cols,))

    def keypress(self, size, key):
        return self.top.key(key, size[1])


class Top:
    """The view's state: the model, the selection, the log pane, the links."""

    def __init__(self, model: Model, links: list[Link], with_host: bool, down: dict[str, str]):
        self.model = model
        self.links = links
        self.with_host = with_host
        self.down = down  # host -> why it is not shown
        self.selected: tuple[str, str] | None = None
        self.first = 0  # the first row on the screen
        self.table_height = 10
        self.filtering = False
        self.message = ("", False)
        self.message_at = 0.0
        self.follow = True
        self.stream = "stdout"
        self.log: LogTail | None = None
        self.log_key: tuple[str, str, str] | None = None
        self.log_lines: list[str] = []
        self.log_partial = ""
        self.log_note = ""
        self.log_generation = 0
        self.exit_code = 0
        self.exit_reason: str | None = None
        self.loop: urwid.MainLoop | None = None
        self.widget = TopScreen(self)
        self.handles: dict[int, object] = {}  # fd -> urwid watch handle
        self.drawn_second = -1

    # -- running ------------------------------------------------------------------------

    def run(self) -> int:
        self.loop = urwid.MainLoop(self.widget, PALETTE, handle_mouse=False)
        for link in self.links:
            self._watch(link.fileno(), lambda link=link: self._link_readable(link))
        self.loop.set_alarm_in(0, self._tick)
        self.loop.run()
        return self.exit_code

    def _watch(self, fd: int, callback) -> None:
        self.handles[fd] = self.loop.watch_file(fd, callback)

    def _unwatch(self, fd: int) -> None:
        handle = self.handles.pop(fd, None)
        if handle is not None:
            self.loop.remove_watch_file(handle)

    def quit(self, code: int = 0, reason: str | None = None) -> None:
        self.exit_code, self.exit_reason = code, reason
        raise urwid.ExitMainLoop()

    def redraw(self) -> None:
        self.widget._invalidate()

    def _tick(self, loop, _data) -> None:
        now = time.monotonic()
        for link in self.links:
            link.poll(now)
        if self.message[0] and now - self.message_at > MESSAGE_SECONDS:
            self.message = ("", False)  # the keys show again
        second = int(now)
        if second != self.drawn_second:  # uptimes move, an overdue daemon shows
            self.drawn_second = second
            self.model.changed()
            self.redraw()
        loop.set_alarm_in(TICK, self._tick)

    def _link_readable(self, link: Link) -> None:
        if link.readable():
            return
        self._unwatch(link.fileno())
        self.links.remove(link)
        link.close()
        if not self.links:
            self.quit(4, link.error)
        self.down[link.host] = link.error or "closed"
        self.model.drop_host(link.host)
        self.redraw()

    def on_status(self, host: str, processes: list) -> None:
        self.model.apply_status(host, processes, time.monotonic())
        if self.selected is None and self.model.rows:
            self._select(0)
        self.redraw()

    def on_event(self, host: str, event: dict) -> None:
        if self.model.apply_event(host, event, time.monotonic()):
            self.redraw()

    # -- the selection and its log --------------------------------------------------------

    def _order(self) -> list[Row]:
        return self.model.order(time.monotonic())

    def _index(self, order: list[Row]) -> int:
        for i, row in enumerate(order):
            if (row.host, row.name) == self.selected:
                return i
        return 0

    def _select(self, index: int) -> None:
        order = self._order()
        if order:
            self._choose(order[max(0, min(index, len(order) - 1))])
            self.redraw()

    def _choose(self, row: Row) -> None:
        """Select `row`; its log follows once the selection stops moving."""
        if (row.host, row.name) != self.selected:
            self.selected = (row.host, row.name)
            self.log_generation += 1
            generation = self.log_generation
            if self.loop is not None:
                self.loop.set_alarm_in(LOG_DELAY, lambda *_: self._open_log(generation))

    def current(self, order: list[Row]) -> int:
        """The selected row's index; a selection the filter hid (or a reload removed)
        moves to the row shown in its place, so a key never acts on a hidden row."""
        index = self._index(order)
        if order and (order[index].host, order[index].name) != self.selected:
            self._choose(order[index])
        return index

    def _open_log(self, generation: int = -1) -> None:
        if generation not in (-1, self.log_generation) or self.selected is None:
            return  # the selection moved on since
        key = (*self.selected, self.stream)
        if key == self.log_key and (self.log is not None or not self.follow):
            return
        self._close_log()
        self.log_key = key
        self.log_lines, self.log_partial, self.log_note = [], "", ""
        if not self.follow:
            self.log_note = "paused: f follows"
            return
        link = next((lk for lk in self.links if lk.host == key[0]), None)
        if link is None:
            return
        self.log = LogTail(link.path, key[1], key[2], self._log_data)
        if self.log.error is not None:
            self.log_note = self.log.error
            self.log = None
        else:
            fd = self.log.fileno()
            self._watch(fd, lambda log=self.log: self._log_readable(log))
        self.redraw()

    def _close_log(self) -> None:
        if self.log is not None:
            self._unwatch(self.log.fileno())
            self.log.close()
            self.log = None

    def _log_readable(self, log: LogTail) -> None:
        if log is not self.log:
            return
        if not log.readable():
            self.log_note = log.error or ""
            self._close_log()
            self.redraw()

    def _log_data(self, text: str) -> None:
        parts = (self.log_partial + text).split("\n")
        self.log_partial = parts.pop()
        if len(self.log_partial) > MAX_LINE:  # output that never ends a line: shown in pieces
            parts.append(self.log_partial)
            self.log_partial = ""
        self.log_lines.extend(printable(line[:MAX_LINE]) for line in parts)
        del self.log_lines[:-MAX_LOG_LINES]
        self.redraw()

    # -- keys -----------------------------------------------------------------------------

    def key(self, key: str, height: int):
        if self.filtering:
            return self._filter_key(key)
        order = self._order()
        index = self.current(order)
        page = max(1, self.table_height - 1)
        moves = {"up": -1, "k": -1, "down": 1, "j": 1, "page up": -page, "page down": page}
        if key in moves:
            self._select(index + moves[key])
        elif key in ("home", "g"):
            self._select(0)
        elif key in ("end", "G"):
            self._select(len(order) - 1)
        elif key in ("q", "Q"):
            self.quit(0)
        elif key in ("s", "t", "r"):
            self._command({"s": "stop", "t": "start", "r": "restart"}[key])
        elif key == "f":
            self.follow = not self.follow
            self.log_key = None
            self._open_log()
        elif key == "e":
            self.stream = "stderr" if self.stream == "stdout" else "stdout"
            self._open_log()
        elif key == "/":
            self.filtering = True
        elif key == "o":
            self.model.next_sort()
        elif key == "O":
            self.model.reverse()
        elif key == "esc" and self.model.filter_text:
            self.model.set_filter("")
        else:
            return key
        self.redraw()
        return None

    def _filter_key(self, key: str):
        text = self.model.filter_text
        if key in ("enter", "esc"):
            self.filtering = False
            if key == "esc":
                self.model.set_filter("")
        elif key == "backspace":
            self.model.set_filter(text[:-1])
        elif len(key) == 1 and key.isprintable():
            self.model.set_filter(text + key)
        else:
            return key
        self.redraw()
        return None

    def say(self, text: str, is_error: bool = False) -> None:
        self.message, self.message_at = (printable(text), is_error), time.monotonic()
        self.redraw()

    def _command(self, cmd: str) -> None:
        if self.selected is None:
            return
        host, name = self.selected
        link = next((lk for lk in self.links if lk.host == host), None)
        if link is None:
            return
        where = f" on {host}" if self.with_host else ""
        self.say(f"{cmd} {name}{where}\u2026")

        def done(reply: dict) -> None:
            if not reply.get("ok"):
                err = reply.get("error") or {}
                self.say(f"{cmd} {name}{where}: {err.get('message', '?')}", True)
            else:
                failed = [r for r in reply["result"] if not r.get("ok")]
                text = "; ".join(f"{r['name']}: {r['message']}" for r in failed)
                self.say(text, True) if failed else self.say(f"{cmd} {name}{where}: done")

        link.command(cmd, [name], done)
