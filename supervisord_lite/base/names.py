"""Process names as supervisorctl shows them: the `process_name` template, full names
(`GROUP:PROCESS`, or `PROCESS` when the group has the same name), and what a NAME given
to a command means (a full name, `GROUP:*`, `GROUP`, a program, or `all`).

Pure functions: no config loading, no processes. The config loader (config/loader.py) expands the
templates once at load; the control side (control/commands.py) matches names with `select`.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable
from typing import Callable, TypeVar

# A program, group or process name: letters of any script (Supervisor takes them too),
# digits, "_", "." and "-". Never ':' (GROUP:PROCESS), '/' (log paths), white space or
# '%' / '{' (templates), nor the invisible and bidirectional controls (not letters).
NAME = re.compile(r"[\w.-]+")

# The fields a process_name or log path template may use, as supervisord's %(...)s
# expansions of the same names.
TEMPLATE_FIELDS = ("program_name", "group_name", "process_num", "numprocs", "host_node_name")
_FORMATTER = string.Formatter()


def host_node_name() -> str:
    """What supervisord's %(host_node_name)s gives: platform.node(), the uname nodename."""
    return os.uname().nodename


def template_fields(template: str) -> list[str]:
    """The field names a template uses; ValueError for a malformed one ("{", "}")."""
    return [field for _, field, _, _ in _FORMATTER.parse(template) if field is not None]


def template_problem(template: str) -> str | None:
    """Why `template` cannot be expanded (unknown field, bad format spec), or None."""
    try:
        fields = template_fields(template)
    except ValueError as exc:  # a lone "{" or "}": write "{{" or "}}" for a brace
        return f'{exc} (write "{{{{" or "}}}}" for a literal brace)'
    for field in fields:
        if field not in TEMPLATE_FIELDS:
            known = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            return f"unknown field {{{field}}}; the fields are {known}"
    try:
        expand(template, "p", "g", 0, 1)
    except (ValueError, TypeError) as exc:  # e.g. {program_name:d}
        return f"cannot expand it: {exc}"
    return None


def expand(template: str, program: str, group: str, process_num: int, numprocs: int) -> str:
    """The template with its fields filled in, as supervisord expands %(...)s."""
    return template.format(
        program_name=program,
        group_name=group,
        process_num=process_num,
        numprocs=numprocs,
        host_node_name=host_node_name(),
    )


def expand_shared(template: str, program: str, group: str, numprocs: int) -> str:
    """The template with every field but {process_num} filled in: what all of a
    program's processes share, still a template (`{{` a brace) for the per-process rest."""
    values = {"program_name": program, "group_name": group, "numprocs": numprocs,
              "host_node_name": host_node_name()}  # fmt: skip
    out = []
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if field not in values:  # process_num: one per process
            out.append("{" + field + (f"!{conversion}" if conversion else "")
                       + (f":{spec}" if spec else "") + "}")  # fmt: skip
            continue
        text = _FORMATTER.format_field(_FORMATTER.convert_field(values[field], conversion), spec)
        out.append(text.replace("{", "{{").replace("}", "}}"))
    return "".join(out)


def full_name(group: str, process: str) -> str:
    """supervisorctl's name for a process: `PROCESS` when its group has its name."""
    return process if process == group else f"{group}:{process}"


P = TypeVar("P")


def select(
    names: Iterable[str], processes: Iterable[P], key: Callable[[P], tuple[str, str, str]]
) -> tuple[list[P], list[str]]:
    """The processes each NAME means, in table order without repeats; plus the NAMEs
    that mean none. `key(process)` gives its (full name, program name, group name).

    NAME is `all`; a full process name, which means that process alone, as in
    supervisorctl (group `g` may hold process `g` beside others); `GROUP:*`; or else
    every process of the group and of the program so named."""
    table = [(process, *key(process)) for process in processes]
    full_names = {row[1] for row in table}
    chosen: set[int] = set()
    unknown = []
    for name in names:
        if name == "all":
            matches = range(len(table))
        elif name in full_names:
            matches = [i for i, row in enumerate(table) if row[1] == name]
        elif name.endswith(":*"):
            matches = [i for i, row in enumerate(table) if row[3] == name[:-2]]
        else:
            matches = [i for i, row in enumerate(table) if name in (row[2], row[3])]
        if not matches:
            unknown.append(name)
        chosen.update(matches)
    return [table[i][0] for i in sorted(chosen)], unknown
