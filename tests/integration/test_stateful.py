"""Random sequences of operations against the real daemon, the invariants checked after each.

A hypothesis RuleBasedStateMachine boots a fresh daemon per example over 3-5 programs of
mixed kinds (a well-behaved runner, a crasher, one that ignores SIGTERM, a dependent, a
numprocs = 2 pair), then runs random steps: start / stop / restart / signal, SIGKILL of a
child, config edits applied by `reload` or SIGHUP, a broken config, concurrent ctl commands
and pipelined socket requests. After every step the daemon must answer `status` within
1 s, status and the daemon's real children must agree (no ghost, no untracked child, no
zombie), and status must list exactly the processes of the applied config. Teardown
requires `shutdown` to finish and leave nothing.

The short run is part of `make test`; `make soak` (SDL_SOAK=1) runs hundreds of longer
examples. A failure prints the shrunk step list and the seed (SDL_STATEFUL_SEED=N replays
it); docs/testing.md says how to turn it into a regression test.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import psutil
import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from integration.harness import CTL_CMD, Daemon, helper
from integration.invariants import (
    LIVE,
    Connection,
    assert_consistent,
    assert_shutdown_leaves_nothing,
    status_now,
)

SOAK = os.environ.get("SDL_SOAK") == "1"
SOAK_EXAMPLES = int(os.environ.get("SDL_SOAK_EXAMPLES", "200"))
SOAK_STEPS = int(os.environ.get("SDL_SOAK_STEPS", "50"))
# Shrinking replays a failing example many times, each hang costing CTL_TIMEOUT: the short
# run reports the failing steps as found; the soak (or SDL_SHRINK=1) shrinks them.
SHRINK = SOAK or os.environ.get("SDL_SHRINK") == "1"
# Generous for the soak (a step takes ~0.2 s, a shrink up to ~10 min more); tight otherwise.
pytestmark = pytest.mark.timeout(SOAK_EXAMPLES * SOAK_STEPS * 3 + 1200 if SHRINK else 120)

KINDS = ("runner", "crasher", "stubborn", "dependent", "pair")
NAMES = ("a", "b", "c", "d", "e", "f")  # programs live under these names
TARGETS = NAMES + ("all",)
SIGNALS = ("HUP", "USR1", "TERM", "INT", "KILL")
CTL_TIMEOUT = 30.0 if SOAK else 10.0  # the slowest legitimate command takes ~3 s
CTL_EXITS = (0, 1)  # ok / some process failed; never 2 (usage), 4 (unreachable), a crash


@dataclass(frozen=True)
class Program:
    kind: str
    variant: bool = False  # a config edit flips it: a changed program for `reload`
    depends_on: Optional[str] = None

    def table(self, name: str) -> dict[str, Any]:
        keys: dict[str, Any] = {
            "startsecs": 0,
            "startretries": 1,
            "backoff_max": 0.5,
            "stopwaitsecs": 2,
            "autorestart": "unexpected",
        }
        if self.kind == "crasher":
            # 0.3 s: RUNNING at startsecs, then a crash loop; 0.1 s: dies before it counts
            # as started, so BACKOFF then FATAL.
            delay = 0.1 if self.variant else 0.3
            keys.update(command=helper("exiter", "--delay", delay, "--code", 1), startsecs=0.2)
        elif self.kind == "stubborn":
            keys.update(command=helper("ignore_term"), stopwaitsecs=0.5 if self.variant else 0.3)
        elif self.kind == "pair":
            keys.update(command=helper("sigwait", "--name", name))
            keys["numprocs"] = 3 if self.variant else 2
        else:  # runner, dependent
            keys.update(command=helper("sigwait", "--name", name))
            keys["startsecs"] = 0.2 if self.variant else 0
            if self.depends_on:
                keys["depends_on"] = [self.depends_on]
        return keys

    def process_names(self, name: str) -> list[str]:
        n = self.table(name).get("numprocs", 1)
        return [name] if n == 1 else [f"{name}:{i}" for i in range(n)]


Config = dict  # program name -> Program, in file order


def tables(config: Config) -> dict[str, dict[str, Any]]:
    return {name: prog.table(name) for name, prog in config.items()}


def expected_names(config: Config) -> set[str]:
    return {p for name, prog in config.items() for p in prog.process_names(name)}


def expected_diff(old: Config, new: Config) -> dict[str, list[str]]:
    old_t, new_t = tables(old), tables(new)
    differ = [n for n in new_t if n in old_t and new_t[n] != old_t[n]]

    def only_numprocs(n: str) -> bool:  # then only the tail starts or stops (scaled)
        return {**old_t[n], "numprocs": None} == {**new_t[n], "numprocs": None}

    return {
        "added": sorted(n for n in new_t if n not in old_t),
        "changed": sorted(n for n in differ if not only_numprocs(n)),
        "scaled": sorted(n for n in differ if only_numprocs(n)),
        "removed": sorted(n for n in old_t if n not in new_t),
    }


def edited(config: Config, edit: str, name: str, kind: str) -> Config:
    """The config after one edit; edits that make no sense here leave it as it is."""
    new = dict(config)
    if edit == "add" and name not in new:
        others = list(new)
        if kind == "dependent" and not others:
            kind = "runner"
        new[name] = Program(kind, depends_on=others[-1] if kind == "dependent" else None)
    elif edit == "remove" and name in new and len(new) > 1:
        del new[name]
        # A dependent of the removed program would make the config invalid: it loses the
        # dependency (and so counts as changed), as a user editing the file would do.
        for other, prog in new.items():
            if prog.depends_on == name:
                new[other] = replace(prog, depends_on=None)
    elif edit == "change" and name in new:
        new[name] = replace(new[name], variant=not new[name].variant)
    return new


def booted_config(kinds: list[str]) -> Config:
    config: Config = {}
    for name, kind in zip(NAMES, kinds):
        dep = list(config)[-1] if kind == "dependent" and config else None
        if kind == "dependent" and dep is None:
            kind = "runner"
        config[name] = Program(kind, depends_on=dep)
    return config


class DaemonMachine(RuleBasedStateMachine):
    """One real daemon per example; `self.applied` is the config it runs (the model)."""

    def __init__(self) -> None:
        super().__init__()
        self.d: Daemon | None = None
        self.applied: Config = {}
        self.background: list[subprocess.Popen] = []

    # -- setup and teardown -----------------------------------------------------------

    @initialize(kinds=st.lists(st.sampled_from(KINDS), min_size=3, max_size=5))
    def boot(self, kinds: list[str]) -> None:
        root = Path(tempfile.mkdtemp(prefix="sdl-", dir="/tmp")).resolve()
        self.d = Daemon(root)
        self.applied = booted_config(kinds)
        self.d.start(tables(self.applied))

    def teardown(self) -> None:
        if self.d is None:
            return
        try:
            self._reap_background()
            # Only when the steps passed: an earlier failure must stay the reported one.
            if sys.exc_info()[0] is None:
                assert_shutdown_leaves_nothing(self.d)
        finally:
            if sys.exc_info()[0] is not None:
                print(f"--- daemon log ({self.d.logfile}) ---\n{self.d.log_tail(80)}")
            self.d.teardown()

    # -- plain commands ---------------------------------------------------------------

    @rule(cmd=st.sampled_from(("start", "stop", "restart")), who=st.sampled_from(TARGETS))
    def command(self, cmd: str, who: str) -> None:
        res = self.ctl(cmd, who)
        if not self.known(who):
            assert res.returncode == 1, self.d.describe(res)
            return
        mine = [i for i in status_now(self.d) if self.targeted(i["name"], who)]
        if cmd == "stop":
            # The reply comes when every process is at rest: none may be live now.
            live = [f"{i['name']} {i['state']}" for i in mine if i["state"] in LIVE]
            assert not live, f"stop {who} returned with {live} still live"
        elif res.returncode == 0:
            # Past startsecs, a process that does not crash on its own is RUNNING.
            steady = [i for i in mine if self.kind_of(i["name"]) in ("runner", "stubborn", "pair")]
            wrong = [f"{i['name']} {i['state']}" for i in steady if i["state"] != "RUNNING"]
            assert not wrong, f"{cmd} {who} succeeded but {wrong} is not RUNNING"

    @rule(sig=st.sampled_from(SIGNALS), who=st.sampled_from(TARGETS))
    def send_signal(self, sig: str, who: str) -> None:
        res = self.ctl("signal", sig, who)
        if not self.known(who):
            assert res.returncode == 1, self.d.describe(res)

    @rule(name=st.sampled_from(NAMES))
    def sigkill_child(self, name: str) -> None:
        """SIGKILL a child behind the daemon's back (an OOM kill, a stray kill -9)."""
        dpid = self.d.pid
        for item in status_now(self.d):
            if item["name"].split(":")[0] != name or not item.get("pid"):
                continue
            try:
                proc = psutil.Process(item["pid"])
                if proc.ppid() == dpid:  # never a recycled pid that is not ours
                    proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
            return

    # -- config edits ----------------------------------------------------------------------

    @rule(
        edit=st.sampled_from(("add", "remove", "change", "none")),
        name=st.sampled_from(NAMES),
        kind=st.sampled_from(KINDS),
        how=st.sampled_from(("ctl", "sighup")),
    )
    def edit_and_reload(self, edit: str, name: str, kind: str, how: str) -> None:
        new = edited(self.applied, edit, name, kind)
        self.d.write_config(tables(new))
        if how == "ctl":
            diff = self.reload()
            assert diff == expected_diff(self.applied, new), (
                f"reload reported {diff}, the edit was {expected_diff(self.applied, new)}"
            )
        else:
            self.reload_by_sighup()
        self.applied = new

    @rule(mistake=st.sampled_from(("bad value", "unknown key", "unknown dependency")))
    def reload_broken_config(self, mistake: str) -> None:
        """A broken config is rejected whole: nothing running changes."""
        broken = tables(self.applied)
        first = next(iter(broken))
        if mistake == "bad value":
            broken[first]["startsecs"] = "x"
        elif mistake == "unknown key":
            broken[first]["startsec"] = 1
        else:
            broken[first]["depends_on"] = ["nosuchprogram"]
        self.d.write_config(broken)
        res = self.ctl("reload")
        assert res.returncode == 1, self.d.describe(res)
        assert f"programs.{first}." in res.stderr and "Traceback" not in res.stderr, res.stderr
        self.d.write_config(tables(self.applied))

    # -- concurrency -----------------------------------------------------------------------

    @rule(
        first=st.sampled_from(("reload", "restart", "stop", "start", "signal")),
        second=st.sampled_from(("restart", "stop", "start", "signal", "reload")),
        name=st.sampled_from(NAMES),
        edit=st.sampled_from(("none", "change", "add", "remove")),
    )
    def concurrent_ctl(self, first: str, second: str, name: str, edit: str) -> None:
        """Fire one ctl command without waiting, run another on the same program meanwhile."""
        new = edited(self.applied, edit, name, "runner")
        if new != self.applied:
            first = "reload"  # the edit is applied by the command in flight
            self.d.write_config(tables(new))
        in_flight = self.popen_ctl(*self.ctl_args(first, name))
        res = self.ctl(*self.ctl_args(second, name))
        assert res.returncode in CTL_EXITS, self.d.describe(res)
        try:
            out, err = in_flight.communicate(timeout=CTL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{first} {name} did not return in {CTL_TIMEOUT}s") from exc
        assert in_flight.returncode in CTL_EXITS, f"{first} {name}: rc {in_flight.returncode}"
        assert "Traceback" not in err, err
        self.background.remove(in_flight)
        if "reload" in (first, second):
            # One of them may have been BUSY; by now both are done: apply once more to know.
            self.reload()
            self.applied = new

    @rule(
        requests=st.lists(
            st.tuples(
                st.sampled_from(("status", "start", "stop", "restart", "signal", "reload")),
                st.sampled_from(TARGETS),
            ),
            min_size=2,
            max_size=5,
        )
    )
    def pipelined_requests(self, requests: list[tuple[str, str]]) -> None:
        """Several connections send before any reply is read; status stays prompt meanwhile."""
        conns = []
        try:
            for n, (cmd, who) in enumerate(requests):
                conn = Connection(self.d.socket, CTL_TIMEOUT)
                conns.append(conn)
                conn.send(n, cmd, self.request_args(cmd, who))
            status_now(self.d)  # answered within 1 s though the others are in flight
            deadline = time.monotonic() + CTL_TIMEOUT
            for n, conn in enumerate(conns):
                reply = conn.read_reply(deadline)
                assert reply.get("id") == n, reply
                if not reply.get("ok"):
                    code = reply["error"]["code"]
                    assert code in ("NO_SUCH_PROCESS", "BUSY"), (requests[n], reply)
        finally:
            for conn in conns:
                conn.close()

    # -- the invariants ----------------------------------------------------------------------

    @invariant()
    def daemon_and_tree_agree(self) -> None:
        if self.d is None:
            return
        assert_consistent(self.d, expected_names(self.applied))

    # -- plumbing ---------------------------------------------------------------------------

    def ctl(self, *args: Any) -> subprocess.CompletedProcess:
        try:
            res = self.d.ctl(*args, timeout=CTL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"ctl {args} did not return in {CTL_TIMEOUT}s") from exc
        assert res.returncode in CTL_EXITS, self.d.describe(res)
        assert "Traceback" not in res.stderr, self.d.describe(res)
        return res

    def popen_ctl(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [*CTL_CMD, "-c", str(self.d.config), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.d.env,
        )
        self.background.append(proc)
        return proc

    def _reap_background(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.background.clear()

    def reload(self) -> dict:
        """`reload` by ctl, retried while another reload is under way (BUSY)."""
        deadline = time.monotonic() + CTL_TIMEOUT
        while True:
            res = self.ctl("--json", "reload")
            if res.returncode == 0:
                return json.loads(res.stdout)
            assert "already under way" in res.stderr, self.d.describe(res)
            assert time.monotonic() < deadline, "reload stayed BUSY for 30 s"
            time.sleep(0.1)

    def reload_by_sighup(self) -> None:
        """SIGHUP, then wait for the daemon's log to say the reload was applied."""
        before = self.d.logfile.read_text(errors="replace").count("reloaded:")
        os.kill(self.d.pid, signal.SIGHUP)
        self.d.wait_until(
            lambda: self.d.logfile.read_text(errors="replace").count("reloaded:") > before,
            CTL_TIMEOUT,
            message="the daemon to log `reloaded:` after SIGHUP",
        )

    def ctl_args(self, cmd: str, name: str) -> list[str]:
        if cmd == "reload":
            return ["reload"]
        if cmd == "signal":
            return ["signal", "HUP", name]
        return [cmd, name]

    def request_args(self, cmd: str, who: str) -> dict | None:
        if cmd in ("status", "reload"):
            return None
        if cmd == "signal":
            return {"signal": "HUP", "names": [who]}
        return {"names": [who]}

    def known(self, who: str) -> bool:
        return who == "all" or who in self.applied

    def targeted(self, process: str, who: str) -> bool:
        return who == "all" or process.split(":")[0] == who

    def kind_of(self, process: str) -> str:
        return self.applied[process.split(":")[0]].kind


def _settings() -> settings:
    examples, steps = (SOAK_EXAMPLES, SOAK_STEPS) if SOAK else (6, 20)
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if SHRINK:
        phases.append(Phase.shrink)
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )


def test_random_operations_keep_the_daemon_consistent() -> None:
    run_seed = int(os.environ.get("SDL_STATEFUL_SEED") or random.randrange(2**32))
    # pytest shows this only for a failed test: the seed replays the run's draws.
    print(f"stateful seed: SDL_STATEFUL_SEED={run_seed}")
    seed(run_seed)(DaemonMachine)
    run_state_machine_as_test(DaemonMachine, settings=_settings())
