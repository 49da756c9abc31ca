"""Event listeners in a conversion: superlance's memmon, httpok and mail listeners
become memory_limit, [programs.X.health] and [alerts] (memmon.py, httpok.py,
mailers.py read their command lines), unless --keep-listeners; every other listener
is a [listeners.x] as it is (listener_tables.py).
"""

from __future__ import annotations

import os
from typing import Any

from supervisord_lite.convert.conversion import Conversion, argv_of
from supervisord_lite.convert.httpok import health_table, read_httpok
from supervisord_lite.convert.listener_tables import listener_as_table
from supervisord_lite.convert.mailers import KINDS, alerts_table, read_mailer
from supervisord_lite.convert.memmon import limit_for, read_memmon

MEMMON = "memmon"
HTTPOK = "httpok"
MAILERS = ("crashmail", "crashmailbatch", "fatalmailbatch", "crashsms")


def listener(c: Conversion, program: dict[str, Any]) -> None:
    """One [eventlistener:x]: a superlance listener kept for when every program has its
    table (apply_memmons, apply_httpoks, mail_alerts), any other one warned about."""
    section = program["section"]
    argv0 = _listener_name(program["processes"][0]["command"]) if program["processes"] else ""
    if c.keep_listeners or argv0 not in (MEMMON, HTTPOK, *KINDS):
        listener_as_table(c, program)  # [listeners.x], as it is
        return
    if argv0 == MEMMON:
        argv = argv_of(program["processes"][0]["command"])
        words = argv[next(i for i, w in enumerate(argv) if MEMMON in w) + 1 :]
        c.memmons.append((section, read_memmon(words, program.get("events", []))))
        return
    if argv0 == HTTPOK:
        argv = argv_of(program["processes"][0]["command"])
        words = argv[next(i for i, w in enumerate(argv) if HTTPOK in w) + 1 :]
        c.httpoks.append((section, read_httpok(words, program.get("events", []))))
        return
    argv = argv_of(program["processes"][0]["command"])
    words = argv[next(i for i, w in enumerate(argv) if argv0 in w) + 1 :]
    c.mailers.append((section, read_mailer(argv0, words)))


def mail_alerts(c: Conversion) -> dict[str, Any] | None:
    """superlance's mail listeners as one [alerts] table (mailers.py)."""
    table, notes = alerts_table([mailer for _, mailer in c.mailers])
    for section, mailer in c.mailers:
        for note in notes[mailer.name]:
            c.warn(section, None, f"superlance {mailer.name}: {note}", "alerts")
    return table


def apply_memmons(c: Conversion, tables: dict[str, dict[str, Any]]) -> None:
    """Each memmon as the memory_limit of the programs it watches."""
    for section, spec in c.memmons:
        done = []
        for program in c.parsed["programs"]:
            names = program.get("tables", [])
            if program["kind"] == "eventlistener" or not names:
                continue
            processes = [p["name"] for p in program["processes"]]
            limit = limit_for(spec, program["name"], program["group"], processes)
            if limit is None:
                continue
            for name in names:
                tables[name]["memory_limit"] = limit
                tables[name]["memory_check_interval"] = spec.interval
            done.append(f"programs.{program['name']}")
        if not done:
            message = "superlance memmon is not converted: it names no program here"
            c.warn(section, None, message, "supervisord")
            continue
        for where in done:
            every = f"sampled every {spec.interval:g} s"
            c.warn(section, None, f"superlance memmon: now {where}.memory_limit, {every}",
                      where)  # fmt: skip
            for note in spec.notes:
                c.warn(section, None, f"superlance memmon: {note}", where)


def apply_httpoks(c: Conversion, tables: dict[str, dict[str, Any]]) -> None:
    """Each httpok as the health table of the processes it restarts (-p)."""
    for section, spec in c.httpoks:
        table, why = health_table(spec)
        targets: dict[str, str] = {}  # table -> its program's name
        for program in c.parsed["programs"]:
            names = program.get("tables", [])
            for n, process in enumerate(program["processes"] if names else []):
                group = program["group"]
                known = {process["name"], f"{group}:{process['name']}", f"{group}:*", group}
                if known & set(spec.processes):
                    targets[names[n] if len(names) > 1 else names[0]] = program["name"]
        if table is None or not targets:
            why = why or f"-p {' '.join(spec.processes) or '(none)'} names no program here"
            message = f"superlance httpok is not converted: {why}"
            c.warn(section, None, message, "supervisord")
            continue
        for name, program_name in targets.items():
            where = f"programs.{program_name}"
            if "health" in tables[name]:  # one health table a program here
                kept = tables[name]["health"]["http"]
                message = (f"superlance httpok: not converted for {name}: it has a "
                           f"health check already, from an earlier httpok ({kept}); "
                           "here a program has one [health] table")  # fmt: skip
                c.warn(section, None, message, where)
                continue
            tables[name]["health"] = dict(table)
            every = f"every {table['interval']:g} s, restart at the first failure"
            message = f"superlance httpok: now [{where}.health] http {spec.url}, {every}"
            c.warn(section, None, message, where)
            for note in spec.notes:
                c.warn(section, None, f"superlance httpok: {note}", where)


def _listener_name(command: str) -> str:
    """memmon, httpok, crashmail... from `memmon -p x=200MB` or `python -m superlance.memmon`."""
    try:
        argv = argv_of(command)
    except ValueError:
        return ""
    for word in argv:
        base = os.path.basename(word).rsplit(".", 1)[-1]
        if base in (MEMMON, HTTPOK, *MAILERS):
            return base
    return ""
