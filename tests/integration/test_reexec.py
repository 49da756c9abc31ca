"""`reexec` (SPEC §11, "Upgrade without restarting programs"): the daemon execs its
installed code in place and keeps its pid, control socket, children and their output.

Each reexec runs the installed code twice (the check child, then the exec), about a
second of CPU on a loaded host: the timeouts are generous on purpose.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from integration.harness import CTL_CMD, DAEMON_CMD, free_port, helper, to_toml
from integration.test_boot import NotifyListener, kill_tree

pytestmark = pytest.mark.timeout(240)

PACKAGE = Path(__file__).resolve().parents[2] / "supervisord_lite"


def reexec(daemon, timeout: float = 90.0) -> subprocess.CompletedProcess:
    return daemon.ctl_ok("reexec", timeout=timeout)


def numbers(path: Path, marker: str = "seq ") -> list[int]:
    """The line numbers seqwriter wrote, in file order (a prefix before them allowed)."""
    found = []
    for line in path.read_text().splitlines():
        at = line.find(marker)
        assert at >= 0, f"a line without its number in {path.name}: {line!r}"
        found.append(int(line[at + len(marker) :].split()[0]))
    return found


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_every_line_once_same_pids_uptimes_and_counters(daemon):
    daemon.write_config(
        {
            # Writing all along: the daemon is copying at each exec.
            "flood": {"command": helper("seqwriter", "--interval", 0.0001), "startsecs": 0},
            # Mostly in the middle of a line (a pause inside each) with a prefix and
            # timestamps: the marker's unfinished line is handed over, not lost or
            # marked twice.
            "halves": {
                "command": helper("seqwriter", "--split", "--split-pause", 0.01),
                "startsecs": 0,
                "log_prefix": "[{name}] ",
                "log_timestamps": True,
            },
            # Crashed once, then stays up: restarts = 1 must survive.
            "crashed_once": {
                "command": [
                    "sh",
                    "-c",
                    "if test -e once; then exec sleep 300; fi; touch once; exit 3",
                ],
                "directory": str(daemon.dir),
                "autorestart": True,
                "startsecs": 0,
            },
            "fatal": {"command": ["false"], "startsecs": 1, "startretries": 0},
        }
    )
    dpid = daemon.start()
    daemon.wait_state("crashed_once", "RUNNING")
    daemon.wait_state("fatal", "FATAL")
    daemon.wait_until(lambda: daemon.status("crashed_once")["crashed_once"]["restarts"] == 1)
    before = daemon.status()
    for _ in range(3):
        res = reexec(daemon)
        assert f"pid {dpid} now runs" in res.stdout, res.stdout
    after = daemon.status()
    assert daemon.pid == dpid
    for name in ("flood", "halves", "crashed_once"):
        assert after[name]["pid"] == before[name]["pid"], (name, before[name], after[name])
        assert after[name]["state"] == "RUNNING"
        assert after[name]["uptime"] >= before[name]["uptime"]
        assert after[name]["restarts"] == before[name]["restarts"]
    assert after["crashed_once"]["restarts"] == 1
    assert after["fatal"]["state"] == "FATAL"
    assert after["fatal"]["description"] == before["fatal"]["description"]
    daemon.ctl_ok("stop", "flood", "halves")  # what they wrote is all in the logs now

    flood = numbers(daemon.log_path("flood"))
    assert flood == list(range(1, len(flood) + 1)), "a line lost or written twice"
    halves = daemon.log_path("halves").read_text().splitlines()
    if halves and not halves[-1].endswith("x"):
        halves.pop()  # the half line it was in the middle of when stopped
    found = [int(line.split("seq ")[1].split()[0]) for line in halves]
    assert found == list(range(1, len(found) + 1))
    # Every line marked exactly once, at its start.
    assert [line for line in halves if line.count("[halves] ") != 1] == []
    assert all(line[4] == "-" and "Z [halves] seq " in line for line in halves)
    assert "took over from" in daemon.logfile.read_text()


def test_a_broken_install_leaves_the_old_daemon_serving(daemon, tmp_path):
    """The daemon runs from a copy of the package; a syntax error is planted in the copy
    (an upgrade gone wrong): reexec fails with the reason and nothing changes."""
    copy = tmp_path / "site"
    shutil.copytree(
        PACKAGE, copy / "supervisord_lite", ignore=shutil.ignore_patterns("__pycache__")
    )
    daemon.env["PYTHONPATH"] = str(copy)
    dpid = daemon.start({"s": {"command": ["sleep", "300"], "startsecs": 0}})
    before = daemon.status()["s"]
    broken = copy / "supervisord_lite" / "engine" / "handover.py"
    broken.write_text(broken.read_text() + "\ndef broken(:\n")

    res = daemon.ctl("reexec", timeout=90)
    assert res.returncode == 1, daemon.describe(res)
    assert "REEXEC_FAILED" in res.stderr and "SyntaxError" in res.stderr, res.stderr
    assert "handover.py" in res.stderr, res.stderr
    assert daemon.pid == dpid
    after = daemon.status()["s"]
    assert (after["pid"], after["state"]) == (before["pid"], "RUNNING")
    assert "reexec failed" in daemon.logfile.read_text()

    broken.write_text(broken.read_text().replace("\ndef broken(:\n", "\n"))
    assert f"pid {dpid} now runs" in reexec(daemon).stdout  # mended: it goes through
    assert daemon.status()["s"]["pid"] == before["pid"]


@pytest.mark.timeout(400)
def test_thirty_reexecs_in_a_row_leak_no_descriptor_and_no_memory(daemon):
    """A leak of one descriptor or of memory per reexec shows after 30 as after 100
    (each reexec runs the code twice, ~1-3 s: 100 held the suite for minutes)."""
    dpid = daemon.start(
        {
            "w": {"command": helper("seqwriter", "--interval", 0.01), "startsecs": 0},
            "s": {"command": ["sleep", "300"], "startsecs": 0},
        }
    )
    reexec(daemon)
    daemon.status()  # the logs open at their first byte: let that happen
    fds, rss = fd_count(dpid), psutil.Process(dpid).memory_info().rss
    for _ in range(29):
        reexec(daemon)
    daemon.wait_until(lambda: fd_count(dpid) <= fds + 1, 5)
    assert fd_count(dpid) <= fds + 1, os.listdir(f"/proc/{dpid}/fd")
    assert psutil.Process(dpid).memory_info().rss < rss * 1.5
    assert daemon.pid == dpid
    assert {s["state"] for s in daemon.status().values()} == {"RUNNING"}
    daemon.ctl_ok("stop", "w")
    written = numbers(daemon.log_path("w"))
    assert written == list(range(1, len(written) + 1)), "a line lost or written twice"


def test_reexec_during_a_stop_and_a_start_in_flight(daemon):
    dpid = daemon.start(
        {
            # Ignores SIGTERM: its stop runs until stopwaitsecs, then SIGKILL.
            "stubborn": {"command": helper("ignore_term"), "startsecs": 0, "stopwaitsecs": 6},
            "slow": {"command": ["sleep", "300"], "startsecs": 5, "autostart": False},
        }
    )
    daemon.wait_until(lambda: "ready" in daemon.read_log("stubborn"))
    stubborn_pid = daemon.status()["stubborn"]["pid"]
    with (
        daemon.ctl_in_background("stop", "stubborn") as stop,
        daemon.ctl_in_background("start", "slow") as start,
    ):
        daemon.wait_state("stubborn", "STOPPING")
        daemon.wait_state("slow", "STARTING")
        slow_pid = daemon.status()["slow"]["pid"]
        reexec(daemon)
        out = [p.communicate(timeout=30)[0] for p in (stop, start)]
    for text in out:  # an answer, or asked to ask again: never a hang or a traceback
        assert "stopped" in text or "started" in text or "ask again" in text, out
    assert daemon.pid == dpid
    # The stop's timer was carried over: SIGKILL when stopwaitsecs ran out.
    daemon.wait_state("stubborn", "STOPPED", timeout=20)
    assert not psutil.pid_exists(stubborn_pid) or psutil.Process(stubborn_pid).status() == "zombie"
    # The start's startsecs timer too: RUNNING, the same child.
    status = daemon.wait_state("slow", "RUNNING", timeout=20)
    assert status["pid"] == slow_pid


def test_notify_socket_sees_reloading_then_ready_and_the_same_main_pid(daemon):
    daemon.write_config({"s": {"command": ["sleep", "300"], "startsecs": 0}})
    listener = NotifyListener(daemon.dir)
    env = dict(daemon.env, NOTIFY_SOCKET=listener.path)
    with open(daemon.dir / "foreground.err", "wb") as err:
        proc = subprocess.Popen(
            [*DAEMON_CMD, "-n", "-c", str(daemon.config)],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            env=env,
        )
    daemon.known_pids.add(proc.pid)
    try:
        listener.wait_for("READY")
        reexec(daemon)
        listener.wait_for("READY", count=2, timeout=30)
        keys = [k for m in listener.messages for k in m if k in ("READY", "RELOADING")]
        assert keys == ["READY", "RELOADING", "READY"], listener.messages
        assert proc.poll() is None and daemon.pid == proc.pid
        assert all("MAINPID" not in m or m["MAINPID"] == str(proc.pid) for m in listener.messages)
    finally:
        kill_tree(proc)
        listener.close()


def test_open_events_and_tail_f_streams_end_cleanly_and_clients_reconnect(daemon):
    daemon.start(
        {
            "s": {"command": ["sleep", "300"], "startsecs": 0},
            "w": {"command": helper("seqwriter", "--interval", 0.05), "startsecs": 0},
        }
    )
    streams = [
        subprocess.Popen(
            [*CTL_CMD, "-c", str(daemon.config), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=daemon.env,
        )
        for args in (["events"], ["tail", "-f", "w"])
    ]
    try:
        # Connected and answered (tail -f has printed lines): the streams are open.
        for proc in streams:
            daemon.wait_until(lambda p=proc: psutil.Process(p.pid).net_connections("unix"), 10)
        reexec(daemon)
        for proc in streams:
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err  # the stream ended: EOF, not an error
            assert b"Traceback" not in err and b"ERROR" not in err, err
        assert b"seq " in out  # tail -f followed until then
    finally:
        for proc in streams:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert daemon.ctl("status").returncode == 0
    # A program started by the new image gets nothing of the handover: no descriptor
    # but its stdio, no state variable.
    daemon.ctl_ok("restart", "s")
    pid = daemon.status()["s"]["pid"]
    assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2"]
    assert b"SUPERVISORD_LITE_REEXEC" not in Path(f"/proc/{pid}/environ").read_bytes()


def test_after_a_reexec_a_sigkilled_daemon_leaves_no_duplicates(daemon):
    dpid = daemon.start({f"p{i}": {"command": ["sleep", "300"], "startsecs": 0} for i in range(3)})
    old = {s["pid"] for s in daemon.status().values()}
    reexec(daemon)
    os.kill(dpid, signal.SIGKILL)
    daemon.wait_until(
        lambda: not psutil.pid_exists(dpid) or psutil.Process(dpid).status() == "zombie", 10
    )
    daemon.start()
    new = {s["pid"] for s in daemon.status().values()}
    assert not new & old
    daemon.wait_until(
        lambda: (
            not [p for p in old if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        ),
        15,
    )


def test_the_check_refuses_a_state_it_does_not_understand(tmp_path):
    state = tmp_path / "state"
    state.write_text('{"format": "supervisord-lite-reexec", "version": 99}')
    with open(state) as f:
        res = subprocess.run(
            [sys.executable, "-m", "supervisord_lite", "--takeover-check", str(f.fileno())],
            pass_fds=[f.fileno()],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert res.returncode == 1
    assert "version 99" in res.stderr and "reads version 1" in res.stderr, res.stderr


def test_as_pid_1_it_stays_pid_1(daemon):
    """In a pid namespace of its own (a container's), the daemon is PID 1: exec keeps it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) here")
    daemon.write_config({"s": {"command": ["sleep", "300"], "startsecs": 0}})
    with open(daemon.dir / "foreground.err", "wb") as err:
        proc = subprocess.Popen(
            [
                unshare,
                "--pid",
                "--fork",
                "--mount-proc",
                *DAEMON_CMD,
                "-n",
                "-c",
                str(daemon.config),
            ],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            env=daemon.env,
        )
    daemon.known_pids.add(proc.pid)
    try:
        daemon.wait_until(lambda: proc.poll() is not None or daemon.socket.exists(), 30)
        if proc.poll() is not None:
            pytest.skip(
                f"cannot make a pid namespace here: {daemon.path('foreground.err').read_text()}"
            )
        daemon.wait_state("s", "RUNNING", timeout=20)
        assert daemon.ctl_ok("pid").stdout.strip() == "1"
        before = daemon.status()["s"]
        assert "pid 1 now runs" in reexec(daemon).stdout
        assert daemon.ctl_ok("pid").stdout.strip() == "1"
        assert daemon.status()["s"]["pid"] == before["pid"]
        daemon.ctl_ok("shutdown")
        assert proc.wait(timeout=30) == 0
        # Still its own after the exec: removed at shutdown, record and all.
        assert not daemon.socket.exists() and not daemon.pidfile.exists()
        assert not daemon.path("sdl.pid.children").exists()
    finally:
        kill_tree(proc)


def test_config_edits_are_not_restarts_but_added_and_removed_programs_are_handled(daemon):
    daemon.start(
        {
            "kept": {"command": ["sleep", "300"], "startsecs": 0},
            "removed": {"command": ["sleep", "301"], "startsecs": 0},
        }
    )
    before = daemon.status()
    daemon.write_config(
        {
            "kept": {"command": ["sleep", "300"], "startsecs": 0, "stopwaitsecs": 3},
            "added": {"command": ["sleep", "302"], "startsecs": 0},
        }
    )
    reexec(daemon)
    after = daemon.wait_state("added", "RUNNING")
    assert after["pid"] is not None
    assert daemon.status()["kept"]["pid"] == before["kept"]["pid"]  # changed, not restarted
    gone = before["removed"]["pid"]
    daemon.wait_until(
        lambda: not psutil.pid_exists(gone) or psutil.Process(gone).status() == "zombie", 10
    )
    assert "removed" not in daemon.status()


def test_a_notify_program_starting_during_reexec_reaches_the_new_image(daemon):
    """Its NOTIFY_SOCKET names the daemon's sd_notify socket, handed over: the READY=1
    it sends after the exec still makes it RUNNING."""
    daemon.start(
        {
            "svc": {
                "command": helper("notifier", "--ready-after", 8),
                "ready": {"notify": True, "timeout": 60},
            }
        }
    )
    daemon.wait_state("svc", "STARTING")
    pid = daemon.status()["svc"]["pid"]
    reexec(daemon)
    assert daemon.status()["svc"]["state"] == "STARTING", "READY=1 came before the exec"
    status = daemon.wait_state("svc", "RUNNING", timeout=30)
    assert status["pid"] == pid


def test_held_sockets_stay_open_and_a_new_one_that_cannot_bind_is_refused_first(daemon):
    port, busy = free_port(), socket.socket()
    daemon.write_config(
        to_toml({"sockets.web": {"listen": f"tcp://127.0.0.1:{port}"}})
        + to_toml({"programs.srv": {"command": helper("listen_server"), "sockets": ["web"]}})
    )
    dpid = daemon.start()
    daemon.wait_state("srv", "RUNNING")
    srv = daemon.status()["srv"]["pid"]

    def held_inodes() -> set[str]:
        """The daemon's held sockets (at fd 67 and up: linux/held_sockets.py FD_FLOOR)."""
        fds = [fd for fd in os.listdir(f"/proc/{dpid}/fd") if int(fd) >= 67]
        return {os.readlink(f"/proc/{dpid}/fd/{fd}") for fd in fds}

    before = held_inodes()
    refused = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    while sock.recv(65536):
                        pass
            except OSError as exc:
                refused.append(exc)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        reexec(daemon)
    finally:
        stop.set()
        thread.join(30)
    assert refused == []
    assert daemon.status()["srv"]["pid"] == srv
    daemon.ctl_ok("restart", "srv")  # the new image hands the same socket on
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass
    assert len(before) == 1 and held_inodes() == before, "the held socket was replaced"

    # A socket added to the config that cannot be bound: refused before the exec.
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    taken = busy.getsockname()[1]
    try:
        daemon.write_config(
            to_toml({"sockets.web": {"listen": f"tcp://127.0.0.1:{port}"}})
            + to_toml({"sockets.more": {"listen": f"tcp://127.0.0.1:{taken}"}})
            + to_toml({"programs.srv": {"command": helper("listen_server"), "sockets": ["web"]}})
            + to_toml({"programs.more": {"command": helper("listen_server"), "sockets": ["more"]}})
        )
        res = daemon.ctl("reexec", timeout=90)
        assert res.returncode == 1 and "[sockets.more]" in res.stderr, daemon.describe(res)
        assert daemon.pid == dpid and daemon.status()["srv"]["pid"] != srv  # still serving
    finally:
        busy.close()


def test_reexec_waits_for_a_rolling_restart_to_finish(daemon):
    """A roll's newcomer lives outside the table: reexec is refused until it is done."""
    port = free_port()
    daemon.write_config(
        to_toml({"sockets.web": {"listen": f"tcp://127.0.0.1:{port}"}})
        + to_toml(
            {
                "programs.srv": {
                    "command": helper("listen_server"),
                    "sockets": ["web"],
                    "startsecs": 4,
                }
            }
        )
    )
    daemon.start()
    daemon.wait_state("srv", "RUNNING", timeout=20)
    with daemon.ctl_in_background("restart", "--rolling", "srv") as roll:
        # The newcomer is up beside the old one (a surge): two children.
        daemon.wait_until(lambda: len(psutil.Process(daemon.pid).children()) == 2, 20)
        res = daemon.ctl("reexec", timeout=90)
        assert res.returncode == 1 and "BUSY" in res.stderr, daemon.describe(res)
        assert "rolling restart" in res.stderr
        roll.communicate(timeout=60)
    assert roll.returncode == 0
    # Once the replaced process has exited too, it goes through.
    daemon.wait_until(lambda: '"retiring": true' not in daemon.ctl("status", "--json").stdout, 30)
    assert "now runs" in reexec(daemon).stdout
