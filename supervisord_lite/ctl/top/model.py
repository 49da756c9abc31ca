"""`supervisorctl-lite top`: what the view shows, without any terminal library.

One Row per process (per host with -H), kept up to date from two sources: the `events`
stream (a state change shows the moment it happens) and a `status` request at most
once a second (uptime, restarts, health and the tree's CPU seconds and resident memory,
from which CPU % is the difference between two answers). The sorted, filtered list is
computed again only when something it depends on changed, and only the rows on the
screen are ever formatted: 1000 processes cost the same per frame as 40.

The plain table (stdout not a terminal) is made here too, so it needs no library.
"""

from __future__ import annotations

from supervisord_lite.ctl.top_args import SORT_KEYS

LIVE = ("RUNNING", "STARTING")
# (key, heading, width, right-aligned): the columns in the order shown.
COLUMNS = (
    ("host", "HOST", 14, False),
    ("name", "NAME", 28, False),
    ("state", "STATE", 9, False),
    ("uptime", "UPTIME", 10, True),
    ("pid", "PID", 8, True),
    ("restarts", "RESTARTS", 9, True),
    ("cpu", "CPU%", 7, True),
    ("memory", "MEM", 8, True),
    ("health", "HEALTH", 10, False),
)
# Sorting by these puts the biggest first (as top and htop do).
DESCENDING_FIRST = ("uptime", "restarts", "cpu", "memory")


class Row:
    """One process as last heard of."""

    __slots__ = (
        "host", "name", "group", "state", "pid", "uptime", "heard_at", "restarts",
        "cpu_seconds", "cpu_at", "cpu_pct", "memory", "health", "description",
    )  # fmt: skip

    def __init__(self, host: str, name: str):
        self.host = host
        self.name = name
        self.group = ""
        self.state = ""
        self.pid: int | None = None
        self.uptime = 0.0  # as of heard_at
        self.heard_at = 0.0
        self.restarts = 0
        self.cpu_seconds: float | None = None
        self.cpu_at = 0.0
        self.cpu_pct: float | None = None
        self.memory: int | None = None
        self.health: str | None = None
        self.description = ""

    def uptime_now(self, now: float) -> float:
        if self.state in LIVE and self.uptime:
            return self.uptime + (now - self.heard_at)
        return 0.0

    def sort_value(self, key: str, now: float):
        if key == "name":  # each host's processes together
            return (self.host, self.name)
        if key == "uptime":
            return self.uptime_now(now)
        if key == "cpu":
            return -1.0 if self.cpu_pct is None else self.cpu_pct
        if key == "memory":
            return -1 if self.memory is None else self.memory
        if key == "pid":
            return -1 if self.pid is None else self.pid
        value = getattr(self, key)
        return "" if value is None else value


class Model:
    """Every host's rows, and the sorted, filtered order the view shows them in."""

    def __init__(self, sort: str = "name", descending: bool = False, filter_text: str = ""):
        self.rows: dict[tuple[str, str], Row] = {}
        self.answers: dict[str, int] = {}  # status answers per host
        self.sort = sort
        self.descending = descending
        self.filter_text = filter_text
        self._order: list[Row] | None = None  # None: compute again

    # -- what the daemons say ---------------------------------------------------------

    def apply_status(self, host: str, processes: list, now: float) -> None:
        """A `status` answer: every process of the host, as it is now. Processes the
        answer no longer names (a reload removed them) go."""
        seen = set()
        # The daemon keeps one /proc pass for a second, so the first answer's figures
        # may be up to a second older than the answer: no rate from it. The polls
        # after it, over a second apart, each get a fresh pass.
        answers = self.answers[host] = self.answers.get(host, 0) + 1
        for p in processes:
            key = (host, p["name"])
            seen.add(key)
            row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = Row(host, p["name"])
            pid = p.get("pid")
            cpu = p.get("cpu_seconds")
            if cpu is not None and row.cpu_seconds is not None and pid == row.pid and answers > 2:
                elapsed = now - row.cpu_at
                if elapsed > 0:
                    row.cpu_pct = max(0.0, 100.0 * (cpu - row.cpu_seconds) / elapsed)
            elif cpu is None or pid != row.pid:
                row.cpu_pct = None  # a new process: its first figure is no rate yet
            row.cpu_seconds, row.cpu_at = cpu, now
            row.group = p.get("group") or p.get("program") or ""
            row.state = p.get("state", "")
            row.pid = pid
            row.uptime = float(p.get("uptime") or 0.0)
            row.heard_at = now
            row.restarts = p.get("restarts") or 0
            row.memory = p.get("memory_bytes")
            row.health = p.get("health")
            row.description = p.get("description") or ""
        for key in [k for k in self.rows if k[0] == host and k not in seen]:
            del self.rows[key]
        self._order = None

    def apply_event(self, host: str, event: dict, now: float) -> bool:
        """An `events` item; whether it changed a row (an unknown process waits for the
        next status answer)."""
        row = self.rows.get((host, event.get("process")))
        if row is None:
            return False
        if "to" in event:  # a state change
            state = event["to"]
            if state != row.state:
                if state not in LIVE or row.state not in LIVE:
                    row.uptime = 0.0
                if state == "STARTING":
                    row.uptime, row.heard_at = 1e-9, now  # ticks from now on
                row.state = state
                row.description = ""
            if event.get("pid") != row.pid:
                row.pid = event.get("pid")
                row.cpu_seconds = row.cpu_pct = row.memory = None
        elif event.get("event") in ("healthy", "unhealthy"):
            row.health = event["event"]
        else:
            return False
        self._order = None
        return True

    def drop_host(self, host: str) -> None:
        self.answers.pop(host, None)
        for key in [k for k in self.rows if k[0] == host]:
            del self.rows[key]
        self._order = None

    # -- what the user chose ------------------------------------------------------------

    def set_sort(self, key: str, descending: bool | None = None) -> None:
        self.sort = key
        self.descending = key in DESCENDING_FIRST if descending is None else descending
        self._order = None

    def next_sort(self) -> None:
        """The next column to sort by (the `o` key)."""
        self.set_sort(SORT_KEYS[(SORT_KEYS.index(self.sort) + 1) % len(SORT_KEYS)])

    def reverse(self) -> None:
        self.descending = not self.descending
        self._order = None

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._order = None

    def changed(self) -> None:
        """Time moved on: sorting by uptime, the order may differ."""
        if self.sort == "uptime":
            self._order = None

    def order(self, now: float) -> list[Row]:
        if self._order is None:
            rows = [r for r in self.rows.values() if matches(r, self.filter_text)]
            key = self.sort
            # The name breaks ties, always ascending: rows with equal figures keep still.
            rows.sort(key=lambda r: (r.host, r.name))
            rows.sort(key=lambda r: r.sort_value(key, now), reverse=self.descending)
            self._order = rows
        return self._order

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        parts = [f"{counts[s]} {s.lower()}" for s in sorted(counts)]
        total = len(self.rows)
        text = f"{total} process{'' if total == 1 else 'es'}"
        return text + (": " + ", ".join(parts) if parts else "")


def matches(row: Row, text: str) -> bool:
    """The page's filter: a part of the name, group or host, or a whole state."""
    if not text:
        return True
    text = text.lower()
    return (
        text in row.name.lower()
        or text in row.group.lower()
        or text in row.host.lower()
        or text == row.state.lower()
    )


# -- formatting ------------------------------------------------------------------------


def hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return ""  # pragma: no cover - the loop always returns


def cells(row: Row, now: float) -> dict[str, str]:
    uptime = row.uptime_now(now)
    return {
        "host": row.host,
        "name": row.name,
        "state": row.state,
        "uptime": hms(uptime) if uptime else "",
        "pid": "" if row.pid is None else str(row.pid),
        "restarts": str(row.restarts),
        "cpu": "" if row.cpu_pct is None else f"{row.cpu_pct:.1f}",
        "memory": human_bytes(row.memory),
        "health": row.health or "",
    }


def columns(with_host: bool, hosts=()) -> tuple:
    """The columns shown; HOST as wide as the longest of `hosts` (up to 32)."""
    if not with_host:
        return COLUMNS[1:]
    width = min(32, max([len(h) for h in hosts] + [COLUMNS[0][2]]))
    return (COLUMNS[0][:2] + (width,) + COLUMNS[0][3:],) + COLUMNS[1:]


def fit(text: str, width: int, right: bool) -> str:
    text = printable(text)
    if len(text) > width:
        text = text[: width - 1] + "~"
    return text.rjust(width) if right else text.ljust(width)


def printable(text: str) -> str:
    """Names and log lines drawn on the terminal: no control characters (an escape
    sequence in a name must not move the cursor or change the colours)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ("    " if c == "\t" else "?") for c in text)


def plain_table(model: Model, with_host: bool, now: float) -> str:
    """Every process as one text table, the columns as wide as their widest value."""
    cols = columns(with_host)
    rows = [cells(r, now) for r in model.order(now)]
    widths = {
        key: max([len(title)] + [len(printable(c[key])) for c in rows]) for key, title, _, _ in cols
    }
    lines = ["  ".join(fit(title, widths[key], right) for key, title, _, right in cols)]
    for c in rows:
        lines.append("  ".join(fit(c[key], widths[key], right) for key, _, _, right in cols))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def json_rows(model: Model, with_host: bool, now: float) -> list[dict]:
    """`top --json`: the table's rows as objects, figures as numbers."""
    out = []
    for row in model.order(now):
        item = {"host": row.host} if with_host else {}
        item.update(
            name=row.name,
            group=row.group,
            state=row.state,
            pid=row.pid,
            uptime=round(row.uptime_now(now), 3),
            restarts=row.restarts,
            cpu_percent=None if row.cpu_pct is None else round(row.cpu_pct, 1),
            memory_bytes=row.memory,
            health=row.health,
        )
        out.append(item)
    return out
