"""restart --rolling (SPEC §11): under a client hammering the held socket, no connection
is refused and no request fails, for one process (surge) and for four; reload_signal;
a failed replacement stops the roll; every state the roll can meet gets an answer."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import psutil
import pytest

from integration.hammer import Hammer
from integration.harness import HELPERS, free_port, helper, to_toml
from integration.test_cgroups import cgroup_root  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(120)

BIN = Path(sys.executable).parent


def write(daemon, port: int, programs: dict) -> None:
    body = to_toml({"sockets.web": {"listen": f"tcp://127.0.0.1:{port}"}})
    body += to_toml({f"programs.{n}": t for n, t in programs.items()})
    daemon.write_config(body)


def roll(daemon, *names) -> list[dict]:
    res = daemon.ctl("--json", "restart", "--rolling", *names, timeout=90)
    return json.loads(res.stdout) if res.stdout.strip() else [res.stderr]


def pids(daemon) -> dict[str, int]:
    return {name: s["pid"] for name, s in daemon.status().items()}


def gunicorn(*args) -> list[str]:
    exe = shutil.which("gunicorn", path=str(BIN))
    if exe is None:
        pytest.skip("gunicorn is not installed (pip install -e '.[test]')")
    return [exe, "--chdir", str(HELPERS), "--graceful-timeout", "10", *args, "web_apps:wsgi"]


def test_surge_of_one_python_server_refuses_and_fails_nothing(daemon):
    port = free_port()
    write(daemon, port, {"srv": {"command": helper("listen_server"), "sockets": ["web"]}})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    old = pids(daemon)["srv"]
    with Hammer(("127.0.0.1", port)) as load:
        load.wait_served(50)
        assert roll(daemon, "srv") == [{"name": "srv", "ok": True, "message": "replaced"}]
        load.wait_served(50)
    assert (load.refused, load.failed) == (0, []), load.summary()
    new = pids(daemon)["srv"]
    assert new != old and {f"pid={old}", f"pid={new}"} <= load.pids, load.summary()


def test_surge_lists_the_old_process_as_retiring_until_it_exits(daemon):
    port = free_port()
    # The old server finishes its slow request in hand before it exits: what is left of
    # it (the answer's time less the roll's ~1 s) is the window in which both status
    # commands must catch it retiring. 3 s left 0.6 s once under CI's load; 6 s leaves ~4.
    server = {"command": helper("listen_server", "--slow", "6"), "sockets": ["web"]}
    write(daemon, port, {"srv": server})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    old = pids(daemon)["srv"]
    with Hammer(("127.0.0.1", port), threads=1) as load:
        daemon.wait_until(lambda: load.served or load.failed, 15)  # a request in hand
        assert roll(daemon, "srv")[0]["ok"]
        listed = json.loads(daemon.ctl("status", "--json").stdout)
        states = {(s["pid"], s.get("retiring", False)) for s in listed}
        assert (old, True) in states, listed
        text = daemon.ctl("status")
        assert text.returncode == 0, text.stdout  # the replacement RUNNING stands for it
        assert "(retiring)" in text.stdout and str(old) in text.stdout, text.stdout
        daemon.wait_until(lambda: len(json.loads(daemon.ctl("status", "--json").stdout)) == 1, 20)
    assert (load.refused, load.failed) == (0, []), load.summary()


def test_rolling_four_processes_refuses_and_fails_nothing(daemon):
    port = free_port()
    server = {"command": helper("listen_server"), "sockets": ["web"], "numprocs": 4}
    write(daemon, port, {"srv": server})
    daemon.start()
    for n in range(4):
        daemon.wait_state(f"srv:{n}", "RUNNING")
    before = pids(daemon)
    with Hammer(("127.0.0.1", port)) as load:
        load.wait_served(50)
        results = roll(daemon, "srv")
        load.wait_served(50)
    assert [r["ok"] for r in results] == [True] * 4, results
    assert (load.refused, load.failed) == (0, []), load.summary()
    after = pids(daemon)
    assert all(after[name] != before[name] for name in before)


def test_rolling_gunicorn_by_surge_refuses_and_fails_nothing(daemon):
    port = free_port()
    write(daemon, port, {"gu": {"command": gunicorn("-w", "2"), "sockets": ["web"],
                                "startsecs": 2}})  # fmt: skip
    daemon.start()
    daemon.wait_state("gu", "RUNNING")
    with Hammer(("127.0.0.1", port)) as load:
        load.wait_served(50)
        assert roll(daemon, "gu")[0]["ok"]
        load.wait_served(50)
    assert (load.refused, load.failed) == (0, []), load.summary()


def test_reload_signal_hup_reloads_gunicorn_in_place(daemon):
    port = free_port()
    program = {"command": gunicorn("-w", "2"), "sockets": ["web"], "reload_signal": "HUP",
               "ready": {"http": f"http://127.0.0.1:{port}/"}}  # fmt: skip
    write(daemon, port, {"gu": program})
    daemon.start()
    daemon.wait_state("gu", "RUNNING")
    master = pids(daemon)["gu"]
    with Hammer(("127.0.0.1", port)) as load:
        load.wait_served(50)
        workers = set(load.pids)
        assert roll(daemon, "gu")[0]["ok"]
        daemon.wait_until(lambda: load.pids - workers, 20)  # new workers answer
        load.wait_served(50)
    assert pids(daemon)["gu"] == master, "reload_signal replaced the master"
    assert load.refused == 0, load.summary()
    # gunicorn's own: an old sync worker caught by its graceful stop with a connection
    # in hand may close it unanswered, cut its body, or (its request unread) close it
    # with a reset (seen about once in 1000 requests under load). The daemon is not on
    # that path; the socket never closed, so nothing is refused.
    cut = ("bad reply b''", "empty body")
    assert all(f in cut or "ConnectionResetError" in f for f in load.failed), load.summary()
    assert len(load.failed) <= 3, load.summary()


def test_uvicorn_takes_the_socket_with_fd_3(daemon):
    """No connection refused. uvicorn itself, on its stop signal, closes a connection it
    has accepted but not read a request from yet (h11_impl.py's shutdown), so a client
    racing the old process's stop may see a reset: what docs/zero-downtime.md says a
    held socket cannot fix. Any failure here must be that, never a refusal."""
    port = free_port()
    exe = shutil.which("uvicorn", path=str(BIN))
    if exe is None:
        pytest.skip("uvicorn is not installed")
    command = [exe, "--app-dir", str(HELPERS), "--fd", "3", "web_apps:asgi"]
    write(daemon, port, {"uv": {"command": command, "sockets": ["web"], "startsecs": 2}})
    daemon.start()
    daemon.wait_state("uv", "RUNNING")
    with Hammer(("127.0.0.1", port)) as load:
        load.wait_served(30)
        assert roll(daemon, "uv")[0]["ok"]
        load.wait_served(30)
    assert load.refused == 0, load.summary()
    # a reset, or the same close seen before any byte of the reply (an empty reply)
    assert all("ConnectionResetError" in f or f == "bad reply b''" for f in load.failed), (
        load.summary()
    )
    assert len(load.pids) == 2, load.summary()  # served by the old and the new


def test_a_failed_replacement_stops_the_roll_and_leaves_the_rest(daemon):
    port = free_port()
    marker = daemon.path("broken")
    # Serves while the marker is absent; with it, exits at once (a bad deploy).
    script = f"test -e {marker} && exit 1; exec {sys.executable} {HELPERS}/listen_server.py"
    server = {"command": ["/bin/sh", "-c", script], "sockets": ["web"], "numprocs": 3,
              "startretries": 0}  # fmt: skip
    write(daemon, port, {"srv": server})
    daemon.start()
    for n in range(3):
        daemon.wait_state(f"srv:{n}", "RUNNING")
    before = pids(daemon)
    marker.write_text("")
    results = roll(daemon, "srv")
    assert [r["ok"] for r in results] == [False, False, False], results
    assert "replacement failed" in results[0]["message"] or "did not start" in results[0]["message"]
    assert "left as it was" in results[1]["message"] and "srv:0" in results[1]["message"]
    after = pids(daemon)
    assert after["srv:1"] == before["srv:1"] and after["srv:2"] == before["srv:2"]


def test_a_failed_surge_keeps_the_old_process_serving(daemon):
    port = free_port()
    marker = daemon.path("broken")
    script = f"test -e {marker} && exit 1; exec {sys.executable} {HELPERS}/listen_server.py"
    server = {"command": ["/bin/sh", "-c", script], "sockets": ["web"], "startretries": 1}
    write(daemon, port, {"srv": server})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    old = pids(daemon)["srv"]
    marker.write_text("")
    with Hammer(("127.0.0.1", port)) as load:
        results = roll(daemon, "srv")
        load.wait_served(20)
    assert results[0]["ok"] is False and "replacement failed" in results[0]["message"], results
    assert daemon.status()["srv"]["pid"] == old
    assert daemon.status()["srv"]["state"] == "RUNNING"
    assert (load.refused, load.failed) == (0, []), load.summary()
    assert len(json.loads(daemon.ctl("status", "--json").stdout)) == 1


def gated(daemon, port: int) -> Path:
    """A server ready only while the file `gate` exists: without it a replacement
    stays STARTING, and the roll stays under way."""
    gate = daemon.path("gate")
    gate.write_text("")
    server = {"command": helper("listen_server"), "sockets": ["web"],
              "ready": {"exec": ["test", "-e", str(gate)], "interval": 0.1}}  # fmt: skip
    write(daemon, port, {"srv": server})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    gate.unlink()
    return gate


def servers(daemon) -> int:
    """The test's live listen_server processes (not the ctl, the daemon or a probe)."""
    count = 0
    for proc in daemon.processes():
        try:
            count += any("listen_server" in part for part in proc.cmdline())
        except psutil.Error:  # gone meanwhile
            pass
    return count


def test_a_second_roll_of_the_same_process_is_refused(daemon):
    gate = gated(daemon, free_port())
    with daemon.ctl_in_background("restart", "--rolling", "srv") as first:
        daemon.wait_until(lambda: servers(daemon) >= 2, 10)  # the surge is on
        second = roll(daemon, "srv")
        assert second[0]["ok"] is False and "under way" in second[0]["message"], second
        gate.write_text("")
        out, _ = first.communicate(timeout=30)
    assert "srv: replaced" in out, out


def test_stopped_and_fatal_processes_are_started_by_the_roll(daemon):
    port = free_port()
    server = {"command": helper("listen_server"), "sockets": ["web"], "autostart": False}
    write(daemon, port, {"srv": server})
    daemon.start()
    results = roll(daemon, "srv")
    assert results == [{"name": "srv", "ok": True, "message": "replaced"}], results
    assert daemon.state("srv") == "RUNNING"


def test_shutdown_during_a_roll_answers_and_leaves_nothing(daemon):
    gated(daemon, free_port())
    with daemon.ctl_in_background("restart", "--rolling", "srv") as rolling:
        daemon.wait_until(lambda: servers(daemon) >= 2, 10)  # old and new
        daemon.ctl_ok("shutdown")
        out, _ = rolling.communicate(timeout=30)
    assert "shutting down" in out, out
    daemon.wait_until(lambda: not daemon.processes(), 20)


def test_a_reload_during_a_roll_interrupts_it_and_stops_the_newcomer(daemon):
    gated(daemon, free_port())
    old = pids(daemon)["srv"]
    with daemon.ctl_in_background("restart", "--rolling", "srv") as rolling:
        daemon.wait_until(lambda: servers(daemon) >= 2, 10)  # the surge is on
        daemon.ctl_ok("reload")
        out, _ = rolling.communicate(timeout=30)
    assert "interrupted by a reload" in out, out
    daemon.wait_until(lambda: servers(daemon) == 1, 15)  # the newcomer has gone
    assert pids(daemon)["srv"] == old


def test_surge_under_cgroup_tracking_keeps_the_newcomer_alive(daemon, cgroup_root):  # noqa: F811
    """Each process runs in a cgroup of its own: cleaning up after the old process (its
    cgroup killed) must not reach the newcomer, surge after surge."""
    port = free_port()
    body = to_toml({"sockets.web": {"listen": f"tcp://127.0.0.1:{port}"}})
    body += to_toml({"programs.srv": {"command": helper("listen_server"), "sockets": ["web"]}})
    daemon.write_config(body, {"cgroup_root": cgroup_root})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    with Hammer(("127.0.0.1", port)) as load:
        for _ in range(3):
            old = pids(daemon)["srv"]
            assert roll(daemon, "srv")[0]["ok"]
            new = pids(daemon)["srv"]
            daemon.wait_until(lambda o=old: not os.path.exists(f"/proc/{o}"), 15)
            load.wait_served(20)
            assert daemon.state("srv") == "RUNNING" and pids(daemon)["srv"] == new
    assert (load.refused, load.failed) == (0, []), load.summary()
    kids = {e.name for e in os.scandir(cgroup_root) if e.is_dir()}
    daemon.wait_until(lambda: {e.name for e in os.scandir(cgroup_root) if e.is_dir()} <= kids)
    assert len(kids - {"supervisord-lite"}) <= 2, kids


def test_a_daemon_killed_mid_surge_leaves_no_duplicate(daemon):
    """Both children of a surge are on the child record: the next daemon stops them
    (SPEC §1) and runs one again."""
    gate = gated(daemon, free_port())
    dpid = daemon.pid
    record = Path(str(daemon.pidfile) + ".children")
    with daemon.ctl_in_background("restart", "--rolling", "srv"):
        daemon.wait_until(lambda: len(json.loads(record.read_text())) == 2, 10)
        both = {int(p[0]) for p in json.loads(record.read_text()).values()}
        os.kill(dpid, signal.SIGKILL)
        daemon.wait_until(lambda: not alive(dpid), 5)
    gate.write_text("")
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    daemon.wait_until(lambda: not any(alive(p) for p in both), 15)
    children = [p for p in daemon.processes() if p.pid != daemon.pid]
    assert [p.pid for p in children] == [pids(daemon)["srv"]], children


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_fatal_process_is_started_and_a_stopping_one_replaced_after_its_stop(daemon):
    """Every state gets an answer: FATAL is started again; STOPPING is waited for (its
    stopwaitsecs, then SIGKILL), then started."""
    port = free_port()
    marker = daemon.path("broken")
    marker.write_text("")
    script = f"test -e {marker} && exit 1; exec {sys.executable} {HELPERS}/listen_server.py"
    stubborn = {"command": helper("ignore_term"), "stopwaitsecs": 2, "startsecs": 0}
    server = {"command": ["/bin/sh", "-c", script], "sockets": ["web"], "startretries": 0}
    write(daemon, port, {"srv": server, "stubborn": stubborn})
    daemon.start()
    daemon.wait_state("srv", "FATAL", timeout=15)
    daemon.wait_state("stubborn", "RUNNING")
    marker.unlink()
    assert roll(daemon, "srv") == [{"name": "srv", "ok": True, "message": "replaced"}]
    old = pids(daemon)["stubborn"]
    with daemon.ctl_in_background("stop", "stubborn"):
        daemon.wait_state("stubborn", "STOPPING")
        results = roll(daemon, "stubborn")
    assert results == [{"name": "stubborn", "ok": True, "message": "replaced"}], results
    assert daemon.state("stubborn") == "RUNNING" and pids(daemon)["stubborn"] != old


def test_a_surge_whose_newcomer_is_running_at_once_answers_once(daemon):
    port = free_port()
    server = {"command": helper("listen_server"), "sockets": ["web"], "startsecs": 0}
    write(daemon, port, {"srv": server})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    old = pids(daemon)["srv"]
    for _ in range(2):
        assert roll(daemon, "srv") == [{"name": "srv", "ok": True, "message": "replaced"}]
    daemon.wait_until(lambda: len(json.loads(daemon.ctl("status", "--json").stdout)) == 1, 15)
    assert pids(daemon)["srv"] != old and not alive(old)
