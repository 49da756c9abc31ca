"""[listeners.NAME] tables: Supervisor's event listeners (docs/listeners.md).

A listener is a program (every program key, the same checks) whose stdout speaks
Supervisor's event-listener protocol, plus `events` and `buffer_size`. Here: the
listener's own keys converted and checked, what a listener may not have, and the
program built by the loader's own `program` under `listeners.NAME`.
"""

from __future__ import annotations

from typing import Any

from supervisord_lite.base.event_types import expand
from supervisord_lite.config import values as cv
from supervisord_lite.config.keys import LISTENER_KEYS
from supervisord_lite.config.model import ListenerConfig, ProgramConfig

SECTION = "listeners"

# A listener's stdout is the protocol channel the daemon reads: never a log, never
# PROCESS_LOG events (Supervisor refuses redirect_stderr there too: it would mix the
# listener's chatter into the protocol).
_REFUSED = {
    "stdout_logfile": (
        "none",
        'a listener\'s stdout is the event protocol, read by the daemon, not logged: use "none"'
        " or leave it out (its stderr is logged as usual)",
    ),
    "redirect_stderr": (
        False,
        "a listener's stdout is the event protocol: its stderr cannot be sent there",
    ),
    "stdout_events_enabled": (
        False,
        "a listener's stdout is the event protocol, not output to send as events",
    ),
    # `fg`'s stdin (a program key of [xmlrpc]'s issue): a listener's stdin is the daemon's
    "stdin": (False, "a listener's stdin is the event protocol, written by the daemon"),
    "stdin_socket": (None, "a listener's stdin is the event protocol, written by the daemon"),
}


def add_listeners(loader: Any, file: str, doc: dict[str, Any]) -> None:
    """Every [listeners.NAME] of one file into loader.programs (errors on the loader)."""
    listeners = doc.get(SECTION, {})
    if not isinstance(listeners, dict):
        shown = cv.show(listeners)
        loader.error(file, (SECTION,), f"expected a table of listeners, got {shown}")
        return
    for name, table in listeners.items():
        parts = (SECTION, name)
        if name in loader.sources:
            first = loader.sources[name]
            message = (
                f'"{name}" is already defined in {first} (listeners and programs are '
                "processes alike: each needs a name of its own)"
            )
            loader.error(file, parts, message)
            continue
        loader.sources[name] = file
        program = _listener(loader, file, name, table)
        if program is not None:
            loader.programs[name] = program


def _listener(loader: Any, file: str, name: str, table: Any) -> ProgramConfig | None:
    parts = (SECTION, name)
    if not isinstance(table, dict):
        loader.error(file, parts, f"expected a table, got {cv.show(table)}")
        return None
    own = {key: value for key, value in table.items() if key in LISTENER_KEYS}
    rest = {key: value for key, value in table.items() if key not in LISTENER_KEYS}
    values, ok = loader.convert_table(file, parts, own, LISTENER_KEYS)
    if "events" not in table:
        loader.error(file, (*parts, "events"), 'required key missing (e.g. ["PROCESS_STATE"])')
        ok = False
    events = _events(loader, file, parts, values["events"]) if "events" in values else None
    ok = events is not None and ok
    for key, (allowed, why) in _REFUSED.items():
        if key in rest and rest[key] != allowed:
            loader.error(file, (*parts, key), why)
            ok = False
    if name in loader.member_of:
        group = loader.member_of[name][0]
        message = f'"{name}" is a listener: its processes are a group of their own (its name)'
        loader.error(file, ("groups", group, "programs"), message)
        ok = False
    rest.setdefault("stdout_logfile", "none")
    settings = ListenerConfig(events or frozenset(), values.get("buffer_size", 1024))
    program = loader.program(file, name, rest, section=SECTION, listener=settings)
    return program if ok else None


def _events(loader: Any, file: str, parts: tuple, names: tuple) -> frozenset[str] | None:
    """The concrete types the names stand for; None (errors recorded) when one is unknown."""
    ok = True
    for index, name in enumerate(names):
        try:
            expand([name])
        except ValueError as exc:
            loader.error(file, (*parts, "events", index), str(exc))
            ok = False
    if not names:
        example = 'e.g. ["PROCESS_STATE"]'
        loader.error(file, (*parts, "events"), f"give at least one event type ({example})")
        return None
    return expand(list(names)) if ok else None


def with_server_url(programs: dict[str, ProgramConfig], url: str) -> dict[str, ProgramConfig]:
    """Tell every listener where the daemon's XML-RPC is ([xmlrpc]), as supervisord sets
    SUPERVISOR_SERVER_URL for its listeners (unless the listener's environment sets it)."""
    told = {}
    for name, program in programs.items():
        if program.listener is not None and "SUPERVISOR_SERVER_URL" not in dict(
            program.environment
        ):
            environment = (*program.environment, ("SUPERVISOR_SERVER_URL", url))
            program = program.replace(environment=environment)
        told[name] = program
    return told
