"""The cached `status` text is exactly json.dumps(Supervisor.status()) after any history."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.control.status_json import StatusText
from supervisord_lite.core.states import (
    Exited,
    IllegalTransition,
    ProcessMachine,
    Spawned,
    SpawnFailed,
    StartRequested,
    StateChanged,
    StopRequested,
    TimerFired,
)
from supervisord_lite.engine.figures import FiguresReading
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux.loop import EventLoop

pytestmark = pytest.mark.timeout(120)


def reference(supervisor, process, current) -> str:
    return json.dumps(
        supervisor.bare_status(process, current), separators=(",", ":"), ensure_ascii=False
    )


def reference_with_figures(supervisor, process, current) -> str:
    status = supervisor.status(process, current)
    return json.dumps(status, separators=(",", ":"), ensure_ascii=False)


class FixedFigures(FiguresReading):
    """Figures that depend only on the pid: the test's pids are made up, and a real
    process that happens to have one would change its figures between two readings."""

    def totals(self, process):
        return (0, 0.0, 0) if process.pid is None else (process.pid * 4096, process.pid / 8, 1)


@pytest.fixture(scope="module")
def table():
    programs = {
        "web": ProgramConfig(name="web", command=("true",), startsecs=2),
        "quick": ProgramConfig(name="quick", command=("true",), startsecs=0),
        "pool": ProgramConfig(name="pool", command=("true",), numprocs=2, depends_on=("web",)),
    }
    config = DaemonConfig(
        path="/x.toml", socket="/x.sock", pidfile="/x.pid", logfile=None, programs=programs
    )
    loop = EventLoop()
    try:
        supervisor = Supervisor(config, loop)
        supervisor.figures.reading = lambda: FixedFigures(None, (), supervisor.cgroup_of)
        yield supervisor
    finally:
        loop.close()


EVENTS = [
    "start",
    "stop",
    "spawned",
    "spawn_failed",
    "exit_0",
    "exit_1",
    "killed",
    "startsecs",
    "backoff",
    "stopwait",
    "wait_deps",
    "deps_ready",
    "dep_error",
]


def apply(process, kind: str, clock: float, pid: int) -> None:
    """Feed one event to the process the way the supervisor would (effects ignored)."""
    machine = process.machine
    event = {
        "start": lambda: StartRequested(clock),
        "stop": lambda: StopRequested(clock),
        "spawned": lambda: Spawned(pid, clock),
        "spawn_failed": lambda: SpawnFailed("/bin/x: No such file or directory", clock),
        "exit_0": lambda: Exited(0, clock),
        "exit_1": lambda: Exited(1, clock),
        "killed": lambda: Exited(-9, clock),
        "startsecs": lambda: TimerFired("startsecs", clock),
        "backoff": lambda: TimerFired("backoff", clock),
        "stopwait": lambda: TimerFired("stopwait", clock),
    }.get(kind)
    if event is None:
        process.waiting_for_deps = kind == "wait_deps"
        process.dep_error = "dependency web is FATAL" if kind == "dep_error" else None
        return
    try:
        effects = machine.handle(event())
    except IllegalTransition:
        return
    if kind == "spawned":
        process.ever_started = True
    if any(isinstance(e, StateChanged) for e in effects):
        process.changed_at = clock
        process.stamp = None


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["web", "quick", "pool:0", "pool:1"]),
            st.sampled_from(EVENTS),
            st.floats(min_value=0, max_value=3, allow_nan=False),
        ),
        max_size=40,
    )
)
def test_status_text_matches_json_of_status(table, steps):
    supervisor = table
    text = StatusText(supervisor)
    clock = 1_000_000.0
    processes = list(supervisor.processes.values())
    for process in processes:  # the table is shared: every example starts afresh
        reset(process)
    for n, (name, kind, dt) in enumerate(steps):
        clock += dt
        apply(supervisor.processes[name], kind, clock, pid=1000 + n)
        for later in (0.0, 0.4, 1.7):  # also across second boundaries of a live uptime
            got = text.array(processes, clock + later)
            want = [reference_with_figures(supervisor, p, clock + later) for p in processes]
            assert got == "[" + ",".join(want) + "]"
            got = text.array(processes, clock + later, figures=False)
            want = [reference(supervisor, p, clock + later) for p in processes]
            assert got == "[" + ",".join(want) + "]"
            for p in processes:
                assert text.one(p, clock + later) == reference(supervisor, p, clock + later)


def reset(process) -> None:
    process.machine = ProcessMachine(process.program)
    process.waiting_for_deps = False
    process.dep_error = None
    process.ever_started = False
    process.stamp = None


SCRIPT = [
    ("web", "start"),  # STARTING, no pid yet
    ("web", "spawned"),  # STARTING with a pid: no transition, a new pid and start time
    ("web", "startsecs"),  # RUNNING: uptime and its H:MM:SS description move every call
    ("pool:0", "wait_deps"),  # "waiting for web"
    ("pool:0", "deps_ready"),
    ("web", "exit_1"),  # BACKOFF with the exit's reason
    ("web", "backoff"),  # STARTING again
    ("web", "spawn_failed"),  # BACKOFF: spawn error
    ("quick", "start"),
    ("quick", "spawned"),  # RUNNING at once (startsecs 0)
    ("quick", "stop"),  # STOPPING
    ("quick", "killed"),  # STOPPED, with a stamp
    ("pool:1", "dep_error"),  # "not started: dependency web is FATAL"
]


def test_status_text_through_a_scripted_life(table):
    supervisor = table
    text = StatusText(supervisor)
    processes = list(supervisor.processes.values())
    for process in processes:
        reset(process)
    clock = 2_000_000.0
    seen_states = set()
    for n, (name, kind) in enumerate(SCRIPT):
        clock += 0.7
        apply(supervisor.processes[name], kind, clock, pid=2000 + n)
        for later in (0.0, 0.3, 1.1, 2.5, 3700.0):
            for p in processes:
                assert text.one(p, clock + later) == reference(supervisor, p, clock + later)
                seen_states.add(p.machine.state.value)
    assert {"STARTING", "RUNNING", "BACKOFF", "STOPPING", "STOPPED"} <= seen_states


def test_live_processes_share_their_common_texts(table):
    """The text after the uptime and after the description is the same for most live
    processes: one copy serves them all (memory with 1000 programs)."""
    supervisor = table
    text = StatusText(supervisor)
    processes = [supervisor.processes[name] for name in ("web", "quick")]
    for n, process in enumerate(processes):
        reset(process)
        for kind in ("start", "spawned", "startsecs"):
            apply(process, kind, 3_000_000.0, pid=3000 + n)
        text.one(process, 3_000_001.0)
    entries = [text._cache[p.name] for p in processes]
    assert entries[0][4] is entries[1][4] and entries[0][5] is entries[1][5]
