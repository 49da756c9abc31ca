"""[listeners.NAME]: Supervisor's event-listener protocol through the real daemon, with a
listener written with supervisor.childutils (tests/helpers/event_recorder.py), as
Supervisor's users write them (docs/listeners.md)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil
import pytest

from integration.harness import helper, to_toml, wait_until

pytestmark = pytest.mark.timeout(60)


def write(daemon, programs: dict, listeners: dict) -> None:
    tables = {f"programs.{name}": keys for name, keys in programs.items()}
    tables.update({f"listeners.{name}": keys for name, keys in listeners.items()})
    daemon.write_config(to_toml(tables))


def recorder(daemon, *args, events=("PROCESS_STATE",), **keys) -> dict:
    table = {"command": helper("event_recorder", daemon.path("got.jsonl"), *args)}
    table["events"] = list(events)
    table.update(keys)
    return table


def received(daemon) -> list[dict]:
    path = daemon.path("got.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def got_events(daemon) -> list[dict]:
    return [item for item in received(daemon) if "headers" in item]


def payloads(daemon, process: str) -> list[tuple[str, str]]:
    """(eventname, payload) of the PROCESS_STATE events about one process."""
    return [
        (e["headers"]["eventname"], e["payload"])
        for e in got_events(daemon)
        if e["payload"].startswith(f"processname:{process} ")
    ]


def wait_for_events(daemon, count: int, predicate=lambda e: True, timeout: float = 15.0):
    return wait_until(
        lambda: len([e for e in got_events(daemon) if predicate(e)]) >= count,
        timeout,
        message=lambda: f"{count} events; got {got_events(daemon)}",
    )


def test_exact_payloads_for_a_crash_a_stop_and_a_fatal(daemon):
    programs = {
        "crash": {"command": helper("exiter", "--code", 3, "--delay", 1.5),
                  "autorestart": False, "startsecs": 1},
        "sleeper": {"command": ["sleep", "60"], "startsecs": 0},
        "broken": {"command": ["false"], "startsecs": 1, "startretries": 1},
    }  # fmt: skip
    write(daemon, programs, {"rec": recorder(daemon)})
    daemon.start()
    daemon.wait_state("crash", "EXITED", timeout=15)
    daemon.wait_state("broken", "FATAL", timeout=15)
    sleeper_pid = daemon.status("sleeper")["sleeper"]["pid"]
    daemon.ctl_ok("stop", "sleeper")
    wait_for_events(daemon, 1, lambda e: e["headers"]["eventname"] == "PROCESS_STATE_STOPPED")
    crash_pid = next(
        int(p.split("pid:")[1]) for n, p in payloads(daemon, "crash") if n.endswith("RUNNING")
    )
    assert payloads(daemon, "crash") == [
        ("PROCESS_STATE_STARTING", "processname:crash groupname:crash from_state:STOPPED tries:0"),
        ("PROCESS_STATE_RUNNING",
         f"processname:crash groupname:crash from_state:STARTING pid:{crash_pid}"),
        ("PROCESS_STATE_EXITED",
         f"processname:crash groupname:crash from_state:RUNNING expected:0 pid:{crash_pid}"),
    ]  # fmt: skip
    assert payloads(daemon, "sleeper") == [
        ("PROCESS_STATE_STARTING",
         "processname:sleeper groupname:sleeper from_state:STOPPED tries:0"),
        ("PROCESS_STATE_RUNNING",
         f"processname:sleeper groupname:sleeper from_state:STARTING pid:{sleeper_pid}"),
        ("PROCESS_STATE_STOPPING",
         f"processname:sleeper groupname:sleeper from_state:RUNNING pid:{sleeper_pid}"),
        ("PROCESS_STATE_STOPPED",
         f"processname:sleeper groupname:sleeper from_state:STOPPING pid:{sleeper_pid}"),
    ]  # fmt: skip
    # As supervisord: tries counts the failed starts; it gives up from BACKOFF.
    head = "processname:broken groupname:broken from_state:"
    assert payloads(daemon, "broken") == [
        ("PROCESS_STATE_STARTING", head + "STOPPED tries:0"),
        ("PROCESS_STATE_BACKOFF", head + "STARTING tries:1"),
        ("PROCESS_STATE_STARTING", head + "BACKOFF tries:1"),
        ("PROCESS_STATE_BACKOFF", head + "STARTING tries:2"),
        ("PROCESS_STATE_FATAL", head + "BACKOFF"),
    ]
    # The envelope: serials from 0 without a gap, one pool, len in characters.
    events = got_events(daemon)
    assert [int(e["headers"]["serial"]) for e in events] == list(range(len(events)))
    assert [int(e["headers"]["poolserial"]) for e in events] == list(range(len(events)))
    for e in events:
        h = e["headers"]
        assert (h["ver"], h["server"], h["pool"]) == ("3.0", "supervisor", "rec")
        assert int(h["len"]) == len(e["payload"])
    # Supervisor's environment for its listeners
    env = received(daemon)[0]["env"]
    assert env["SUPERVISOR_ENABLED"] == "1"
    assert env["SUPERVISOR_PROCESS_NAME"] == "rec" and env["SUPERVISOR_GROUP_NAME"] == "rec"


def test_tick_5_is_aligned_and_only_ticks_are_sent(daemon):
    write(
        daemon, {"idle": {"command": ["sleep", "60"]}}, {"rec": recorder(daemon, events=["TICK_5"])}
    )
    daemon.start()
    wait_for_events(daemon, 2, timeout=20)
    ticks = got_events(daemon)[:2]
    whens = [int(e["payload"].split("when:")[1]) for e in ticks]
    assert [e["headers"]["eventname"] for e in ticks] == ["TICK_5", "TICK_5"]
    assert all(when % 5 == 0 for when in whens) and whens[1] - whens[0] == 5
    assert ticks[0]["payload"] == f"when:{whens[0]}"
    assert abs(time.time() - whens[1]) < 5


def test_a_failed_event_comes_again_at_the_head(daemon):
    programs = {"one": {"command": ["sleep", "60"], "startsecs": 0}}
    write(daemon, programs, {"rec": recorder(daemon, "--fail", 1)})
    daemon.start()
    wait_for_events(daemon, 3)
    first, second, third = got_events(daemon)[:3]
    assert first["headers"]["serial"] == second["headers"]["serial"] == "0"
    assert first["payload"] == second["payload"]
    assert third["headers"]["serial"] == "1"
    assert "event 0 was rejected" in daemon.logfile.read_text()


def test_garbage_on_stdout_shows_the_listener_unknown_until_it_restarts(daemon):
    write(daemon, {}, {"rec": recorder(daemon, "--garbage")})
    daemon.start()
    status = wait_until(
        lambda: (s := daemon.status("rec")["rec"])["state"] == "UNKNOWN" and s, timeout=10
    )
    assert "listener protocol error" in status["description"], status
    assert "hello, I am not a listener" in status["description"], status
    assert "UNKNOWN" in daemon.ctl("status", "rec").stdout
    daemon.ctl_ok("stop", "rec")
    assert daemon.state("rec") == "STOPPED"


def test_a_listener_that_never_reads_stalls_nothing_and_drops_are_counted(daemon):
    crashers = {
        f"c{i}": {"command": ["false"], "startsecs": 0, "autorestart": True, "backoff_max": 0}
        for i in range(5)
    }
    listener = recorder(daemon, "--never-read", buffer_size=10)
    write(daemon, crashers, {"deaf": listener})
    daemon.start()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        assert daemon.ctl("status").returncode in (0, 3)
        # A stall would be for ever; the bound only keeps a loaded machine from failing it.
        assert time.monotonic() - t0 < 5, "status stalled behind a listener that never reads"
    metrics = daemon.ctl_ok("metrics").stdout
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith('supervisord_lite_listener_events_dropped_total{listener="deaf"}')
    )
    assert int(line.split()[-1]) > 0, line
    assert "listener deaf: event buffer overflowed (buffer_size 10)" in daemon.logfile.read_text()


def test_a_thousand_events_at_start_up_all_reach_a_slow_starting_listener(daemon):
    quick = {
        f"q{i}": {"command": ["true"], "startsecs": 0, "autorestart": False,
                  "stdout_logfile": "none", "stderr_logfile": "none"}
        for i in range(250)
    }  # fmt: skip
    events = ["PROCESS_STATE", "PROCESS_GROUP", "SUPERVISOR_STATE_CHANGE"]
    listener = recorder(daemon, "--delay", 2, events=events, buffer_size=2000)
    write(daemon, quick, {"rec": listener})
    daemon.start(launch_timeout=60)
    # 251 groups added (the listener's own too), the daemon RUNNING, and per program
    # STARTING, RUNNING, EXITED; the listener's own STARTING and RUNNING.
    expected = 251 + 1 + 3 * 250 + 2
    wait_for_events(daemon, expected, timeout=40)
    serials = [int(e["headers"]["serial"]) for e in got_events(daemon)]
    assert serials == list(range(expected)), "an event was lost or came twice"
    assert "overflowed" not in daemon.logfile.read_text()


def test_process_log_events_only_for_programs_that_enable_them(daemon):
    programs = {
        "talker": {"command": ["sh", "-c", "echo hello; echo oops >&2; sleep 60"],
                   "stdout_events_enabled": True, "stderr_events_enabled": True},
        "quiet": {"command": ["sh", "-c", "echo not-sent; sleep 60"]},
    }  # fmt: skip
    write(daemon, programs, {"rec": recorder(daemon, events=["PROCESS_LOG"])})
    daemon.start()
    wait_for_events(daemon, 2)
    pid = daemon.status("talker")["talker"]["pid"]
    got = sorted((e["headers"]["eventname"], e["payload"]) for e in got_events(daemon))
    head = f"processname:talker groupname:talker pid:{pid} channel:"
    assert got == [
        ("PROCESS_LOG_STDERR", head + "stderr\noops\n"),
        ("PROCESS_LOG_STDOUT", head + "stdout\nhello\n"),
    ]
    assert daemon.read_log("talker") == "hello\n"  # logged as before


def test_reload_sends_group_added_and_removed(daemon):
    listener = recorder(daemon, events=["PROCESS_GROUP"])
    write(daemon, {"old": {"command": ["sleep", "60"]}}, {"rec": listener})
    daemon.start()
    wait_for_events(daemon, 2)
    write(daemon, {"new": {"command": ["sleep", "60"]}}, {"rec": listener})
    daemon.ctl_ok("reload")
    wait_for_events(daemon, 4)
    assert [(e["headers"]["eventname"], e["payload"]) for e in got_events(daemon)] == [
        ("PROCESS_GROUP_ADDED", "groupname:rec\n"),  # its own, as supervisord's pools see it
        ("PROCESS_GROUP_ADDED", "groupname:old\n"),
        ("PROCESS_GROUP_REMOVED", "groupname:old\n"),
        ("PROCESS_GROUP_ADDED", "groupname:new\n"),
    ]
    assert daemon.state("rec") == "RUNNING"  # an unchanged listener runs on


def test_superlance_crashmail_mails_an_unexpected_exit(daemon):
    crashmail = str(Path(sys.executable).parent / "crashmail")
    mail = daemon.path("mail.txt")
    programs = {
        "crash": {"command": helper("exiter", "--code", 2, "--delay", 1.5), "autorestart": False},
        "clean": {"command": helper("exiter", "--code", 0, "--delay", 1.5), "autorestart": False},
    }
    listener = {
        "command": [crashmail, "-a", "-m", "ops@example.com", "-s", f"cat >> {mail}"],
        "events": ["PROCESS_STATE_EXITED"],
        # crashmail refuses to run without it (it never calls back): the daemon sets it
        # with [xmlrpc] on, as supervisord does with a server; here it stands in.
        "environment": {"SUPERVISOR_SERVER_URL": "unix:///nonexistent.sock"},
    }
    write(daemon, programs, {"crashmail": listener})
    daemon.start()
    daemon.wait_state("crash", "EXITED", timeout=15)
    daemon.wait_state("clean", "EXITED", timeout=15)
    text = wait_until(lambda: mail.exists() and "exited unexpectedly" in mail.read_text()
                      and mail.read_text(), timeout=15)  # fmt: skip
    assert "To: ops@example.com" in text
    assert "Process crash in group crash exited unexpectedly (pid " in text
    assert "from state RUNNING" in text
    assert "clean" not in text  # an expected exit is not mailed


def test_an_idle_daemon_with_a_listener_but_no_ticks_never_wakes(daemon):
    write(daemon, {"plain": {"command": ["sleep", "300"], "startsecs": 0}},
          {"rec": recorder(daemon, events=["PROCESS_STATE", "PROCESS_LOG"])})  # fmt: skip
    dpid = daemon.start()
    daemon.wait_state("rec", "RUNNING")
    wait_for_events(daemon, 4)  # both STARTING and RUNNING delivered: nothing pending
    proc = psutil.Process(dpid)
    time.sleep(0.5)  # start-up work (log flushes, the child record) settles
    before = proc.num_ctx_switches().voluntary
    time.sleep(1.5)
    assert proc.num_ctx_switches().voluntary - before == 0


def test_a_reload_can_add_the_first_listener_and_remove_it(daemon):
    daemon.start({"app": {"command": ["sleep", "60"], "startsecs": 0}})
    listener = recorder(daemon, events=["PROCESS_GROUP", "PROCESS_STATE"])
    write(daemon, {"app": {"command": ["sleep", "60"], "startsecs": 0}}, {"rec": listener})
    daemon.ctl_ok("reload")
    daemon.wait_state("rec", "RUNNING")
    daemon.ctl_ok("restart", "app")
    wait_for_events(daemon, 1, lambda e: e["headers"]["eventname"] == "PROCESS_STATE_RUNNING"
                    and "processname:app " in e["payload"])  # fmt: skip
    first = got_events(daemon)[0]
    assert (first["headers"]["eventname"], first["payload"]) == (
        "PROCESS_GROUP_ADDED",
        "groupname:rec\n",
    )
    write(daemon, {"app": {"command": ["sleep", "60"], "startsecs": 0}}, {})
    daemon.ctl_ok("reload")
    assert "rec" not in daemon.status()
    daemon.ctl_ok("restart", "app")  # no listener left: nothing to send, nothing breaks
    assert daemon.state("app") == "RUNNING"


def test_listeners_start_first_and_stop_last_hearing_the_programs_stop(daemon):
    programs = {"app": {"command": ["sleep", "60"], "startsecs": 0, "priority": -100}}
    events = ["PROCESS_STATE", "SUPERVISOR_STATE_CHANGE"]
    write(daemon, programs, {"rec": recorder(daemon, events=events)})
    daemon.start()
    wait_for_events(daemon, 1, lambda e: "processname:app " in e["payload"]
                    and e["headers"]["eventname"] == "PROCESS_STATE_RUNNING")  # fmt: skip
    daemon.ctl_ok("shutdown")
    wait_until(lambda: not daemon.pidfile.exists(), timeout=20)
    names = [
        (e["headers"]["eventname"], e["payload"].split()[0] if e["payload"] else "")
        for e in got_events(daemon)
    ]
    # Started before the program (despite its priority -100) ...
    assert names.index(("PROCESS_STATE_STARTING", "processname:rec")) < names.index(
        ("PROCESS_STATE_STARTING", "processname:app")
    )
    # ... and stopped after it, once it has read the program's last events.
    assert names[-3:] == [
        ("SUPERVISOR_STATE_CHANGE_STOPPING", ""),
        ("PROCESS_STATE_STOPPING", "processname:app"),
        ("PROCESS_STATE_STOPPED", "processname:app"),
    ]
    log = daemon.logfile.read_text()
    assert log.index("stopped: app") < log.index("waiting for rec to stop")


def test_a_deaf_listener_holds_up_shutdown_two_seconds_at_most(daemon):
    programs = {"app": {"command": ["sleep", "60"], "startsecs": 0}}
    write(daemon, programs, {"deaf": recorder(daemon, "--never-read")})
    daemon.start()
    daemon.wait_state("deaf", "RUNNING")
    daemon.ctl_ok("shutdown")  # its events never read: held 2 s, then stopped anyway
    wait_until(lambda: not daemon.pidfile.exists(), timeout=20)
    assert "stopped: deaf" in daemon.logfile.read_text()


def test_a_pool_of_two_gets_each_event_once(daemon):
    programs = {f"p{i}": {"command": ["sleep", "60"], "startsecs": 0} for i in range(20)}
    listener = recorder(daemon, events=["PROCESS_STATE_RUNNING"], numprocs=2,
                        process_name="rec_{process_num}")  # fmt: skip
    write(daemon, programs, {"rec": listener})
    daemon.start()
    assert {"rec:rec_0", "rec:rec_1"} <= set(daemon.status())
    # 20 programs and the 2 listener processes RUNNING
    wait_for_events(daemon, 22)
    daemon.ctl_ok("restart", "all")
    wait_for_events(daemon, 44)
    serials = sorted(int(e["headers"]["serial"]) for e in got_events(daemon))
    assert serials == list(range(44)), "an event was lost or sent to both"
    assert {e["headers"]["pool"] for e in got_events(daemon)} == {"rec"}


def test_a_changed_listener_keeps_its_pool_across_a_reload(daemon):
    programs = {"app": {"command": ["sleep", "60"], "startsecs": 0}}
    write(daemon, programs, {"rec": recorder(daemon, events=["PROCESS_STATE"])})
    daemon.start()
    wait_for_events(daemon, 3)  # rec STARTING, app STARTING, app RUNNING (and rec RUNNING)
    changed = recorder(daemon, events=["PROCESS_STATE"], environment={"V": "2"})
    write(daemon, programs, {"rec": changed})
    daemon.ctl_ok("reload")
    daemon.ctl_ok("restart", "app")  # while the new listener may still be starting
    wait_for_events(daemon, 1, lambda e: e["headers"]["eventname"] == "PROCESS_STATE_RUNNING"
                    and "processname:app " in e["payload"]
                    and int(e["headers"]["serial"]) > 3)  # fmt: skip
    serials = {int(e["headers"]["serial"]) for e in got_events(daemon)}
    # every serial up to the last one reached the listener, the old process or the new
    assert serials == set(range(max(serials) + 1))
    assert len(daemon.status()) == 2 and daemon.state("rec") == "RUNNING"
