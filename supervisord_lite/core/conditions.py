"""Whether a dependency meets a dependent's condition (docs/lifecycle.md).

Pure: reads a dependency process's state and machine, and answers MET, WAITING, or why
the condition can no longer be met (a string). A condition that can no longer be met
fails the dependent's start at once: no start waits forever.
"""

from __future__ import annotations

from supervisord_lite.core.states import ProcessState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.core.process import Process

S = ProcessState
MET = "met"
WAITING = "waiting"
_AT_REST = (S.STOPPED, S.EXITED, S.FATAL)


def verdict(condition: str, dep: Process) -> str:
    """MET, WAITING, or the reason `condition` on `dep` can no longer be met.

    A dependency at rest that still waits for its own dependencies is WAITING: its start
    is under way."""
    state, machine = dep.state, dep.machine
    if condition == "started":
        met = state in (S.RUNNING, S.EXITED) or (state is S.STARTING and dep.pid is not None)
    elif condition == "ready":
        met = state is S.RUNNING or machine.completed() is True
    elif condition == "healthy":
        checks = dep.checks
        met = state is S.RUNNING and checks is not None and checks.health == "healthy"
    elif condition == "completed":
        met = state is S.EXITED or machine.completed() is False
    elif condition == "completed_successfully":
        met = state is S.EXITED and bool(machine.last_exit_expected)
    else:
        raise ValueError(f"unknown condition {condition!r}")
    if met:
        return MET
    if state not in _AT_REST or dep.waiting_for_deps:
        return WAITING
    return _why_not(condition, dep)


def _why_not(condition: str, dep: Process) -> str:
    if dep.dep_error is not None and dep.state is S.STOPPED:
        return f"dependency {dep.name} was not started: {dep.dep_error}"
    history = dep.machine.history
    reason = history[-1].reason if history else "never started"
    return (
        f'dependency {dep.name} is {dep.state.value} ({reason}): "{condition}" can no longer be met'
    )
