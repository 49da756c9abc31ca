"""Start and stop order (docs/states.md, "Order"): dependencies, then priority.

Pure bookkeeping over process objects that expose `.state` and `.program`; the
supervisor asks for stops and feeds back state changes.
"""

from __future__ import annotations

from typing import Any, Callable

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.states import ProcessState

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

    A member is *finished* once it has come to rest after being asked to stop, even if
    something else (a concurrent `restart`) starts it again before the batch ends: the
    batch did its part, and waiting for it to rest again would wait forever.
    """

    def __init__(
        self,
        processes: list,
        dependents: dict[str, set[str]],
        request_stop: Callable[[Any], None],
        on_done: Callable[[], None],
    ):
        self.pending = set(processes)  # not yet asked to stop
        self.members = list(processes)
        self._member_set = set(processes)
        self.dependents = dependents  # program -> programs depending on it, transitively
        # (a program missing from it has none)
        self.request_stop = request_stop
        self.on_done = on_done  # for the owner to call once advance() returns True
        self.done = False
        self.rested: set = set()  # asked to stop, and came to rest since

    def came_to_rest(self, process: Any) -> None:
        """The owner's word that a process reached a state of rest (a transition)."""
        if process in self._member_set and process not in self.pending:
            self.rested.add(process)

    def _finished(self, process: Any) -> bool:
        return process in self.rested or (process not in self.pending and process.state in AT_REST)

    def advance(self) -> bool:
        """Ask every member that may stop now to stop; True once all are at rest."""
        if self.done:
            return True
        # A member already at rest when asked to stop makes no transition, so nothing
        # would call advance() again for it: keep going until a round asks no one.
        while self._ask_next_round():
            pass
        self.done = not self.pending and all(self._finished(p) for p in self.members)
        return self.done

    def _ask_next_round(self) -> bool:
        """Ask the members that may stop now; False when there was none."""
        unfinished = [p for p in self.members if not self._finished(p)]
        unfinished_programs = {p.program.name for p in unfinished}
        dependents = self.dependents
        available = [
            p
            for p in unfinished
            if not (dependents.get(p.program.name, _NONE) & unfinished_programs)
        ]
        # Reverse start order: the highest (group priority, priority) stops first.
        top = max((p.program.order_key() for p in available), default=(0, 0, 0))
        pending = self.pending
        ready = [p for p in available if p in pending and p.program.order_key() >= top]
        for process in ready:
            self.pending.remove(process)
            self.request_stop(process)
            if process.state in AT_REST:
                self.rested.add(process)  # at rest already, or stopped on the spot
        return bool(ready)
