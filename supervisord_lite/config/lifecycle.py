"""The lifecycle keys of [programs.NAME] (docs/lifecycle.md): `depends_on` with
conditions, `oneshot`, and the hooks (`exec_start_pre` ... `exec_stop_post`).

Pure converters and checks: no I/O. The loader (load_tables.py) splits a converted
`depends_on` into the names every start/stop order reads (`depends_on`) and the
conditions only the sequencer reads (`conditions`).
"""

from __future__ import annotations

from typing import Any

from supervisord_lite.config import values as cv
from supervisord_lite.config.messages import Invalid, fail, show

# What a dependent waits for (process-compose's five, docker compose's names):
#   started: the dependency has been spawned;
#   ready: it is RUNNING (a oneshot: it completed successfully, as systemd's oneshot);
#   healthy: a health probe of it passed;
#   completed: it exited, with any code;
#   completed_successfully: it exited with a code in its exitcodes.
CONDITIONS = ("started", "ready", "healthy", "completed", "completed_successfully")
HOOK_KEYS = ("exec_start_pre", "exec_start_post", "exec_stop", "exec_stop_post")


def depends_on(value: Any) -> tuple[tuple[str, str], ...]:
    """A list of program names (each must be ready) or a table name -> condition:
    (name, condition) pairs in file order, repeats dropped."""
    if isinstance(value, list):
        names = cv.list_of(cv.program_name, "program names")(value)
        return tuple((name, "ready") for name in dict.fromkeys(names))
    if not isinstance(value, dict):
        raise fail(
            "expected a list of program names or a table of conditions like "
            f'{{ migrate = "completed_successfully" }}, got {show(value)}'
        )
    out, problems = [], []
    for name, condition in value.items():
        try:
            cv.program_name(name)
            out.append((name, _condition(condition)))
        except Invalid as exc:
            problems += [((name, *sub), msg) for sub, msg in exc.problems]
    if problems:
        raise Invalid(problems)
    return tuple(out)


def _condition(value: Any) -> str:
    if isinstance(value, str) and value in CONDITIONS:
        return value
    options = " | ".join(f'"{c}"' for c in CONDITIONS)
    raise fail(f"expected {options}, got {show(value)}")


def hooks(value: Any) -> tuple[tuple[str, ...], ...]:
    """A list of commands run in order: each an argv array (or a string split with
    shlex rules; no shell ever runs it)."""
    if not isinstance(value, list):
        raise fail(
            f'expected a list of commands like [["/usr/bin/migrate", "--up"]], got {show(value)}'
        )
    out, problems = [], []
    for index, command in enumerate(value):
        try:
            out.append(cv.command(command))
        except Invalid as exc:
            problems += [((index, *sub), msg) for sub, msg in exc.problems]
    if problems:
        raise Invalid(problems)
    return tuple(out)


def split_depends_on(pairs: tuple[tuple[str, str], ...], table_form: bool):
    """(names, conditions) for ProgramConfig: the list form keeps no conditions (every
    dependency "ready"), so its --check --json stays the list it was."""
    names = tuple(name for name, _ in pairs)
    return names, (pairs if table_form else ())


def lifecycle_problems(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """[(key, message)] for lifecycle keys that cannot work together: a oneshot never
    reaches RUNNING, so readiness, health and the watchdog mean nothing for it; a
    "healthy" condition needs a dependency with a health probe."""
    out = []
    if kwargs.get("oneshot"):
        for key in ("ready", "health", "watchdog_sec"):
            if kwargs.get(key) is not None:
                out.append((key, f"a oneshot program runs to completion: {key} does not apply"))
    return out
