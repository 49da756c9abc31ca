"""Supervisor's event type names and their hierarchy (supervisor/events.py EventTypes).

Vocabulary shared by the config (a listener's `events = [...]` is checked at load) and
the wire codec (supervisor_wire/events.py); pure, standard library only.
"""

from __future__ import annotations

from typing import Optional

# The process states a PROCESS_STATE_* event can name (supervisor/states.py).
PROCESS_STATES = ("STARTING", "BACKOFF", "EXITED", "RUNNING", "STOPPING", "STOPPED", "FATAL",
                  "UNKNOWN")  # fmt: skip
TICK_PERIODS = {"TICK_5": 5, "TICK_60": 60, "TICK_3600": 3600}

# Each type and its parent; a type with children is abstract (never sent itself).
EVENT_PARENTS: dict[str, Optional[str]] = {
    "EVENT": None,
    "PROCESS_STATE": "EVENT",
    **{f"PROCESS_STATE_{state}": "PROCESS_STATE" for state in PROCESS_STATES},
    "PROCESS_COMMUNICATION": "EVENT",
    "PROCESS_COMMUNICATION_STDOUT": "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDERR": "PROCESS_COMMUNICATION",
    "PROCESS_LOG": "EVENT",
    "PROCESS_LOG_STDOUT": "PROCESS_LOG",
    "PROCESS_LOG_STDERR": "PROCESS_LOG",
    "REMOTE_COMMUNICATION": "EVENT",
    "SUPERVISOR_STATE_CHANGE": "EVENT",
    "SUPERVISOR_STATE_CHANGE_RUNNING": "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_STOPPING": "SUPERVISOR_STATE_CHANGE",
    "TICK": "EVENT",
    **{name: "TICK" for name in TICK_PERIODS},
    "PROCESS_GROUP": "EVENT",
    "PROCESS_GROUP_ADDED": "PROCESS_GROUP",
    "PROCESS_GROUP_REMOVED": "PROCESS_GROUP",
}
ABSTRACT_TYPES = frozenset(parent for parent in EVENT_PARENTS.values() if parent)
CONCRETE_TYPES = frozenset(EVENT_PARENTS) - ABSTRACT_TYPES


def _ancestors(name: str) -> set[str]:
    found = {name}
    parent = EVENT_PARENTS[name]
    while parent:
        found.add(parent)
        parent = EVENT_PARENTS[parent]
    return found


def expand(names: list[str]) -> frozenset[str]:
    """The concrete event types a listener subscribed to ``names`` receives.

    An abstract type stands for all of its subtypes (Supervisor subscribes with
    isinstance). An unknown name raises ValueError naming it, with a close match.
    """
    wanted = set()
    for name in names:
        if name not in EVENT_PARENTS:
            import difflib  # only for this message: 140 KiB the daemon need not hold

            close = difflib.get_close_matches(name, list(EVENT_PARENTS), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise ValueError(f'unknown event type "{name}"{hint}')
        wanted.add(name)
    return frozenset(concrete for concrete in CONCRETE_TYPES if _ancestors(concrete) & wanted)
