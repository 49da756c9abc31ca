"""Start and stop order (docs/states.md, "Order"): dependencies, then priority.

Pure bookkeeping over process objects that expose `.state` and `.program`; the
supervisor asks for stops and feeds back state changes.
"""

from __future__ import annotations

from typing import Any, Callable

from supervisord_lite.config import ProgramConfig
from supervisord_lite.states import ProcessState

S = ProcessState
AT_REST = (S.STOPPED, S.EXITED, S.FATAL)
_NONE: frozenset[str] = frozenset()


def transitive_dependents(programs: dict[str, ProgramConfig]) -> dict[str, set[str]]:
    """program -> every program that depends on it, directly or not.

    Programs nothing depends on are left out (most of them, usually): read a missing
    name as no dependents."""
    direct: dict[str, set[str]] = {}
    for name, program in programs.items():
        for dep in program.depends_on:
            direct.setdefault(dep, set()).add(name)
    result = {}
    for name in direct:
        seen: set[str] = set()
        todo = list(direct[name])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(direct.get(current, ()))
        result[name] = seen
    return result


class StopBatch:
    """Stops a set of processes in order (docs/states.md, "Order").

    A member is *available* once no unfinished member depends on it. Among available
    members the highest priority number goes first: a member is signalled when no
    available unfinished member has a higher priority number. Members still waiting
    for their dependents do not block others by priority, so the two rules can never
    deadlock each other (this is Kahn's topological sort, priority breaking ties).
    """

    def __init__(
        self,
        processes: list,
        dependents: dict[str, set[str]],
        request_stop: Callable[[Any], None],
        on_done: Callable[[], None],
    ):
        self.pending = list(processes)  # not yet asked to stop
        self.members = list(processes)
        self.dependents = dependents  # program -> programs depending on it, transitively
        # (a program missing from it has none)
        self.request_stop = request_stop
        self.on_done = on_done  # for the owner to call once advance() returns True
        self.done = False

    def advance(self) -> bool:
        """Ask every member that may stop now to stop; True once all are at rest."""
        if self.done:
            return True
        # A member already at rest when asked to stop makes no transition, so nothing
        # would call advance() again for it: keep going until a round asks no one.
        while self._ask_next_round():
            pass
        self.done = not self.pending and all(p.state in AT_REST for p in self.members)
        return self.done

    def _ask_next_round(self) -> bool:
        """Ask the members that may stop now; False when there was none."""
        pending = set(self.pending)
        unfinished = [p for p in self.members if p in pending or p.state not in AT_REST]
        unfinished_programs = {p.program.name for p in unfinished}
        dependents = self.dependents
        available = [
            p
            for p in unfinished
            if not (dependents.get(p.program.name, _NONE) & unfinished_programs)
        ]
        top = max((p.program.priority for p in available), default=0)
        ready = [p for p in available if p in pending and p.program.priority >= top]
        for process in ready:
            self.pending.remove(process)
            self.request_stop(process)
        return bool(ready)
