"""superlance's memmon as `memory_limit`: each process spec it watches (`-p NAME=SIZE`,
`-g GROUP=SIZE`, `-a SIZE` for all) becomes the program's memory_limit, sampled every
TICK it listens to. memmon restarts a process over its limit, as memory_limit does;
what differs (it counts the main process only unless -c; it can mail) comes back as
notes."""

from __future__ import annotations

import re

from supervisord_lite.convert.superlance_args import options

TICKS = {"TICK_5": 5.0, "TICK_60": 60.0, "TICK_3600": 3600.0}
_SIZE = re.compile(r"(\d+)\s*(kb|mb|gb|b)?$", re.IGNORECASE)
_UNITS = {None: 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_TAKES_VALUE = {"-p", "--program", "-g", "--group", "-a", "--any", "-m", "--email",
                "-u", "--uptime", "-n", "--name", "-s", "--sendmail_program"}  # fmt: skip


class MemMon:
    """What one memmon command line asks for."""

    def __init__(self) -> None:
        self.limits: list[tuple[str, str, int]] = []  # (how: p|g|a, spec, bytes)
        self.interval = 60.0
        self.cumulative = False
        self.notes: list[str] = []


def size(text: str) -> int | None:
    """memmon's sizes: a number with an optional KB, MB or GB (powers of 1024)."""
    m = _SIZE.match(text.strip())
    return None if m is None else int(m.group(1)) * _UNITS[(m.group(2) or "").lower() or None]


def read_memmon(argv: list[str], events: list[str]) -> MemMon:
    spec = MemMon()
    ticks = [TICKS[e] for e in events if e in TICKS]
    if ticks:
        spec.interval = min(ticks)
    for option, value in options(argv, _TAKES_VALUE):
        if option in ("-p", "--program", "-g", "--group"):
            name, _, amount = value.rpartition("=")
            limit = size(amount)
            if not name or limit is None:
                spec.notes.append(f"{option} {value!r}: not NAME=SIZE, ignored")
            else:
                spec.limits.append((option.lstrip("-")[0], name, limit))
        elif option in ("-a", "--any"):
            limit = size(value)
            if limit is None:
                spec.notes.append(f"{option} {value!r}: not a size, ignored")
            else:
                spec.limits.append(("a", "", limit))
        elif option in ("-c", "--cumulative"):
            spec.cumulative = True
        elif option in ("-m", "--email", "-s", "--sendmail_program", "-n", "--name"):
            spec.notes.append(f"{option}: not mailed; [alerts] on 'memory_limit' can tell someone")
        elif option in ("-u", "--uptime"):
            spec.notes.append(f"{option} {value}: a process is restarted at any uptime")
    if not spec.cumulative:
        spec.notes.append(
            "memmon counted the main process only (no -c); memory_limit counts the whole "
            "tree, children and setsid'd descendants too"
        )
    return spec


def limit_for(spec: MemMon, program: str, group: str, process_names: list[str]) -> int | None:
    """The limit memmon put on this program, or None. memmon checks a process against
    every limit naming it (-p its name or GROUP:NAME, -g its group, -a) and restarts it
    over any of them: the smallest applies. A later -p or -g for the same name replaces
    an earlier one, as in memmon's option table."""
    latest = {(how, name): limit for how, name, limit in spec.limits}
    applying = [
        limit
        for (how, name), limit in latest.items()
        if how == "a"
        or (how == "g" and name == group)
        or (how == "p" and (name in process_names or name in (program, f"{group}:*")
                            or any(name == f"{group}:{p}" for p in process_names)))
    ]  # fmt: skip
    return min(applying, default=None)
