"""An [eventlistener:x] as a [listeners.x] table (docs/listeners.md): the program keys
as any program's (program_tables.py), then what a listener adds (events, buffer_size)
and what it may not have here (a stdout log: its stdout is the protocol). Warnings for
what differs, above the table.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from supervisord_lite.convert.conversion import Conversion
from supervisord_lite.convert.program_tables import program_tables

# A listener's stdout is the event protocol here and never logged; Supervisor logged
# the protocol's chatter to stdout_logfile.
_STDOUT_KEYS = ("stdout_logfile", "stdout_logfile_maxbytes", "stdout_logfile_backups")
_NEVER = ("redirect_stderr", "stdout_events_enabled")

# (key, value) pairs in the order the table is written
Table = dict[str, Any]
Warn = Callable[[Optional[str], str], None]  # (INI key or None, message)


def listener_table(
    program: dict[str, Any], keys: Table, given: Callable[[str], bool], warn: Warn
) -> Table:
    """The [listeners.NAME] keys of a converted eventlistener: its program `keys` (as a
    program's table), less its stdout log, plus events and buffer_size."""
    table = {k: v for k, v in keys.items() if k not in _STDOUT_KEYS and k not in _NEVER}
    stdout_log = program["processes"][0].get("stdout_logfile") if program["processes"] else None
    if given("stdout_logfile") and stdout_log is not None:
        warn("stdout_logfile", "not converted: a listener's stdout is the event protocol, "
             "read by the daemon and not logged here (supervisord logged it)")  # fmt: skip
    table["events"] = list(program["events"])
    if given("buffer_size"):  # else ours, 1024: supervisord's 10 overflows at start-up
        table["buffer_size"] = program["buffer_size"]
    if given("result_handler"):
        warn("result_handler", "not converted: here `RESULT 2\\nOK` acknowledges an event "
             "and any other result rejects it (supervisord's default handler)")  # fmt: skip
    return table


def listener_as_table(c: Conversion, program: dict[str, Any]) -> None:
    """An [eventlistener:x] into c.listener_tables, its warnings above [listeners.x]."""
    section, name = program["section"], program["name"]
    table = f"listeners.{name}"
    converted = program_tables(c, program)
    # program_tables warns under programs.NAME: this one is written as listeners.NAME
    c.table_warnings.setdefault(table, []).extend(c.table_warnings.pop(f"programs.{name}", []))
    if len(converted) != 1:
        if converted:  # (numprocs = 0 was warned about already)
            message = ("not converted: its processes differ in a way one [listeners] table "
                       "cannot say (one table is one pool)")  # fmt: skip
            c.warn(section, None, message, table)
        return
    here, keys = converted[0]
    c.listener_tables[here] = (name, listener_table(
        program, keys, lambda key: c.given(section, key),
        lambda key, message: c.warn(section, key, message, table),
    ))  # fmt: skip
