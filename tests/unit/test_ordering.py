"""Stop order: dependents first, then higher priority numbers; never a deadlock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.ordering import StopBatch, transitive_dependents
from supervisord_lite.core.states import ProcessState

pytestmark = pytest.mark.timeout(10)


@dataclass(eq=False)
class Fake:
    program: ProgramConfig
    state: ProcessState = ProcessState.RUNNING


def programs(**spec) -> dict[str, ProgramConfig]:
    """name=(priority, [deps])"""
    return {
        name: ProgramConfig(name=name, command=("x",), priority=prio, depends_on=tuple(deps))
        for name, (prio, deps) in spec.items()
    }


def batch_of(procs: dict[str, Fake], progs: dict[str, ProgramConfig], asked: list[str]):
    """A StopBatch over procs that records, in `asked`, whom it asks to stop."""
    return StopBatch(
        list(procs.values()),
        transitive_dependents(progs),
        lambda p: asked.append(p.program.name),
        lambda: None,
    )


def stop_waves(progs: dict[str, ProgramConfig]) -> list[set[str]]:
    """Run a batch to completion, stopping each wave at once; return the waves."""
    procs = {name: Fake(p) for name, p in progs.items()}
    asked: list[str] = []
    batch = batch_of(procs, progs, asked)
    waves = []
    for _ in range(len(procs) + 1):
        asked.clear()
        done = batch.advance()
        if done:
            return waves
        assert asked, (
            f"deadlock: nothing may stop, pending {[p.program.name for p in batch.pending]}"
        )
        waves.append(set(asked))
        for name in asked:
            procs[name].state = ProcessState.STOPPED
    raise AssertionError("never finished")


def test_dependents_stop_before_their_dependencies():
    waves = stop_waves(programs(db=(1, []), app=(1, ["db"]), web=(1, ["app"])))
    assert waves == [{"web"}, {"app"}, {"db"}]


def test_higher_priority_number_stops_first():
    assert stop_waves(programs(a=(10, []), b=(20, []), c=(20, []))) == [{"b", "c"}, {"a"}]


def test_a_dependency_with_a_higher_priority_number_does_not_deadlock():
    # a (priority 1) depends on b (priority 10); c (5) is unrelated. The priority rule
    # alone would want b before c before a, the dependency rule a before b.
    waves = stop_waves(programs(a=(1, ["b"]), b=(10, []), c=(5, [])))
    assert waves == [{"c"}, {"a"}, {"b"}]


def test_transitive_dependents():
    deps = transitive_dependents(programs(db=(1, []), app=(1, ["db"]), web=(1, ["app"])))
    assert deps == {"db": {"app", "web"}, "app": {"web"}}  # nothing depends on web


@pytest.mark.parametrize("rest", [ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL])
def test_members_already_at_rest_do_not_stall_the_batch(rest):
    """A member at rest makes no transition when asked to stop: one advance() must go on
    to what it was holding back (its dependencies), or nothing would ever call again."""
    progs = programs(db=(1, []), app=(1, ["db"]), web=(1, ["app"]))
    procs = {name: Fake(p) for name, p in progs.items()}
    procs["web"].state = rest
    procs["app"].state = rest
    asked: list[str] = []
    batch = batch_of(procs, progs, asked)
    assert batch.advance() is False
    assert asked == ["web", "app", "db"]
    procs["db"].state = ProcessState.STOPPED
    assert batch.advance() is True


def test_a_member_started_again_by_someone_else_still_counts_as_stopped():
    """A concurrent `restart web` may start web again once it came to rest: the batch
    must neither wait for web to rest again nor hold db back because of it."""
    progs = programs(db=(1, []), web=(1, ["db"]))
    procs = {name: Fake(p) for name, p in progs.items()}
    asked: list[str] = []
    batch = batch_of(procs, progs, asked)
    assert batch.advance() is False and asked == ["web"]
    procs["web"].state = ProcessState.STOPPED
    batch.came_to_rest(procs["web"])
    procs["web"].state = ProcessState.RUNNING  # the other command's start
    assert batch.advance() is False and asked == ["web", "db"]
    procs["db"].state = ProcessState.STOPPED
    batch.came_to_rest(procs["db"])
    assert batch.advance() is True
