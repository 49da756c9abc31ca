"""Supervisor's %(name)s expansions as this project's {name} templates, kept only
where the template renders, for every process, exactly the value supervisord gave it."""

from __future__ import annotations

import platform
import re
from typing import Any

from supervisord_lite.base.names import TEMPLATE_FIELDS

_PRINTF_FIELD = re.compile(
    r"%(%|\((?P<name>[^)]*)\)(?P<flags>[-0 +#]*)(?P<width>\d*)(?P<type>[sdiu]))"
)


def to_template(raw: str, literals: dict[str, str]) -> str | None:
    """`%(program_name)s_%(process_num)02d` -> `{program_name}_{process_num:02d}`.

    Fields we template stay fields; `literals` (here, ENV_*) are written as their value;
    anything else (a printf spec str.format has no twin for) gives None."""
    out = []
    pos = 0
    for match in _PRINTF_FIELD.finditer(raw):
        out.append(escape_braces(raw[pos : match.start()]))
        pos = match.end()
        if match.group(1) == "%":
            out.append("%")
            continue
        name, flags, width, kind = match.group("name", "flags", "width", "type")
        if name in literals and not flags and not width and kind == "s":
            out.append(escape_braces(literals[name]))
        elif name in TEMPLATE_FIELDS and kind == "s" and not flags and not width:
            out.append("{" + name + "}")
        elif name in ("process_num", "numprocs") and kind in "diu" and flags in ("", "0"):
            out.append("{" + name + (f":{flags}{width}d" if width else "") + "}")
        else:
            return None
    rest = raw[pos:]
    if "%" in rest:
        return None
    out.append(escape_braces(rest))
    return "".join(out)


def escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def render(template: str, program: dict[str, Any], process_num: int) -> str | None:
    try:
        return template.format(
            program_name=program["name"],
            group_name=program["group"],
            process_num=process_num,
            numprocs=program["settings"]["numprocs"],
            host_node_name=platform.node(),
        )
    except (KeyError, ValueError, IndexError):
        return None


def template_for(
    raw: str | None, program: dict[str, Any], values: list[Any], literals: dict[str, str]
) -> str | None:
    """A template that renders, for each process, exactly the value supervisord gave it."""
    if raw is None:
        return None
    template = to_template(raw, literals)
    if template is None:
        return None
    for process, value in zip(program["processes"], values):
        if render(template, program, process["process_num"]) != value:
            return None
    return template
