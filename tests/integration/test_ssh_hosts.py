"""supervisorctl-lite -H/--hosts: commands on several daemons through a real sshd on
127.0.0.1 (two daemons are two "hosts": two sockets behind the same sshd)."""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import subprocess
import time

import psutil
import pytest

from integration import sshd as sshd_mod
from integration.harness import CTL_CMD
from integration.sshd import Sshd, run_ctl

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not sshd_mod.available(), reason="needs OpenSSH's sshd, ssh, ssh-keygen"),
]


@pytest.fixture
def sshd():
    server = Sshd()
    try:
        server.start()
        yield server
    finally:
        print(f"--- sshd log ---\n{server.log.read_text() if server.log.exists() else ''}")
        server.stop()


def sleeper(**extra) -> dict:
    return {"command": ["sleep", "300"], "startsecs": 0, **extra}


@pytest.fixture
def two_hosts(make_daemon):
    """Two running daemons; their targets as `alias:/socket`."""
    a, b = make_daemon(), make_daemon()
    a.start({"web": sleeper(), "db": sleeper()})
    b.start({"web": sleeper(), "cache": sleeper()})
    return a, b, f"hosta:{a.socket}", f"hostb:{b.socket}"


def ctl(sshd: Sshd, daemon, *args, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return run_ctl([str(a) for a in args], sshd.env(daemon.env), timeout=timeout)


def blocks(text: str) -> dict[str, str]:
    """`== HOST ==` blocks of the text output, by host."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("== ") and line.endswith(" =="):
            current = line[3:-3]
            found[current] = []
        elif current is not None and line:
            found[current].append(line)
    return {host: "\n".join(lines) for host, lines in found.items()}


def test_status_of_two_hosts_in_blocks(sshd, two_hosts):
    a, b, ta, tb = two_hosts
    res = ctl(sshd, a, "-H", ta, "-H", tb, "status")
    assert res.returncode == 0, res
    got = blocks(res.stdout)
    assert list(got) == [ta, tb]
    assert "web" in got[ta] and "db" in got[ta] and "cache" not in got[ta]
    assert "web" in got[tb] and "cache" in got[tb] and "db" not in got[tb]
    assert all("RUNNING" in line for line in got[ta].splitlines() + got[tb].splitlines())


def test_stop_and_start_across_hosts(sshd, two_hosts):
    a, b, ta, tb = two_hosts
    res = ctl(sshd, a, "-H", ta, "-H", tb, "stop", "web")
    assert res.returncode == 0, res
    assert a.status()["web"]["state"] == "STOPPED"
    assert b.status()["web"]["state"] == "STOPPED"
    assert a.status()["db"]["state"] == "RUNNING"

    res = ctl(sshd, a, "-H", ta, "-H", tb, "status")
    assert res.returncode == 3, res  # not all RUNNING

    res = ctl(sshd, a, "-H", ta, "-H", tb, "--json", "start", "web")
    assert res.returncode == 0, res
    results = json.loads(res.stdout)
    assert list(results) == [ta, tb]
    assert [r["name"] for r in results[ta]] == ["web"] and results[ta][0]["ok"]
    assert a.status()["web"]["state"] == "RUNNING"
    assert b.status()["web"]["state"] == "RUNNING"


def test_json_status_is_an_object_per_host(sshd, two_hosts):
    a, b, ta, tb = two_hosts
    res = ctl(sshd, a, "--json", "-H", ta, "-H", tb, "status")
    assert res.returncode == 0, res
    by_host = json.loads(res.stdout)
    assert sorted(p["name"] for p in by_host[ta]) == ["db", "web"]
    assert sorted(p["name"] for p in by_host[tb]) == ["cache", "web"]
    assert by_host[tb][0]["pid"] == b.status()[by_host[tb][0]["name"]]["pid"]


def test_an_unreachable_host_is_reported_and_the_others_answer(sshd, two_hosts):
    a, b, ta, tb = two_hosts
    res = ctl(sshd, a, "-H", ta, "-H", "down:/run/x.sock", "-H", tb, "status")
    assert res.returncode == 4, res  # the worst: unreachable
    got = blocks(res.stdout)
    assert list(got) == [ta, "down:/run/x.sock", tb]
    assert "RUNNING" in got[ta] and "RUNNING" in got[tb]
    assert got["down:/run/x.sock"] == ""
    assert "down:/run/x.sock" in res.stderr and "Connection refused" in res.stderr, res.stderr

    res = ctl(sshd, a, "--json", "-H", ta, "-H", "down:/run/x.sock", "status")
    assert res.returncode == 4, res
    by_host = json.loads(res.stdout)
    assert by_host["down:/run/x.sock"]["code"] == "UNREACHABLE"
    assert "Connection refused" in by_host["down:/run/x.sock"]["message"]
    assert isinstance(by_host[ta], list)


def test_a_stopped_daemon_behind_a_live_sshd_is_unreachable(sshd, two_hosts):
    a, b, ta, tb = two_hosts
    b.ctl_ok("shutdown")
    res = ctl(sshd, a, "-H", ta, "-H", tb, "status")
    assert res.returncode == 4, res
    got = blocks(res.stdout)
    assert "RUNNING" in got[ta]
    # ssh asked the host what is at the path: the daemon removed its socket
    assert f"{tb}: cannot reach {tb}: there is no socket {b.socket} on hostb" in res.stderr, res
    assert "is the daemon running" in res.stderr
    assert "Traceback" not in res.stderr


def test_worst_exit_code_of_mixed_results(sshd, two_hosts):
    a, b, ta, tb = two_hosts
    b.ctl_ok("stop", "cache")
    res = ctl(sshd, a, "-H", ta, "-H", tb, "status")
    assert res.returncode == 3, res  # one host has a process not RUNNING
    res = ctl(sshd, a, "-H", ta, "-H", tb, "start", "db")  # no db on b
    assert res.returncode == 1, res
    assert a.status()["db"]["state"] == "RUNNING"


def test_hosts_file_with_comments_and_default_socket(sshd, two_hosts, tmp_path):
    a, b, ta, tb = two_hosts
    hosts = tmp_path / "hosts"
    hosts.write_text(f"# the fleet\n{ta}\n\n  hostb   # via -s\n")
    res = ctl(sshd, a, "--hosts", hosts, "-s", b.socket, "status")
    assert res.returncode == 0, res
    assert list(blocks(res.stdout)) == [ta, "hostb"]
    assert "cache" in blocks(res.stdout)["hostb"]


def test_parallel_bounds_the_hosts_at_once(sshd, two_hosts):
    """`events` never ends: with --parallel 2 both hosts get an ssh child; with
    --parallel 1 the second waits for the first, so once the first streams there is
    still a single ssh child."""
    a, b, ta, tb = two_hosts
    for parallel in (2, 1):
        proc = events_ctl(sshd, a, "--parallel", str(parallel), "-H", ta, "-H", tb)
        seen = bytearray()
        try:
            if parallel == 2:
                _until(proc, seen, lambda p=proc: len(_ssh_children(p.pid)) == 2)
            else:
                _until(proc, seen, lambda s=seen: _restart_and_seen(a, None, s, ta, None))
                assert len(_ssh_children(proc.pid)) == 1
                assert f"{tb} | " not in seen.decode()
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def events_ctl(sshd, daemon, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [*CTL_CMD, *args, "events"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=sshd.env(daemon.env),
        start_new_session=True,
    )


def _ssh_children(pid: int) -> list[psutil.Process]:
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for p in kids:
        try:
            if os.path.basename(p.cmdline()[0]) == "ssh":
                found.append(p)
        except (psutil.Error, IndexError):
            pass
    return found


def test_events_from_two_hosts_are_prefixed_and_interrupt_ends_them(sshd, two_hosts):
    a, b, ta, tb = two_hosts
    proc = events_ctl(sshd, a, "-H", ta, "-H", tb)
    seen = bytearray()
    try:
        _until(proc, seen, lambda p=proc: len(_ssh_children(p.pid)) == 2)
        ssh_pids = [p.pid for p in _ssh_children(proc.pid)]
        _until(proc, seen, lambda: _restart_and_seen(a, b, seen, ta, tb))
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert b"Traceback" not in err, err
        psutil.wait_procs([psutil.Process(p) for p in ssh_pids if psutil.pid_exists(p)], 5)
        assert not [p for p in ssh_pids if psutil.pid_exists(p)], "ssh children left behind"
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
        proc.communicate()
    lines = seen.decode().splitlines()
    assert any(line.startswith(f"{ta} | ") for line in lines), lines
    assert any(line.startswith(f"{tb} | ") for line in lines), lines
    for line in lines:
        host, _, event = line.partition(" | ")
        assert host in (ta, tb) and json.loads(event)


def _restart_and_seen(a, b, seen, ta, tb) -> bool:
    """Restart web on each daemon until each host's events show (a subscription may
    not be up yet when the first restart happens)."""
    text = seen.decode()
    pairs = [(d, t) for d, t in ((a, ta), (b, tb)) if d is not None]
    if all(f"{t} | " in text for _, t in pairs):
        return True
    for d, t in pairs:
        if f"{t} | " not in text:
            d.ctl_ok("restart", "web")
    return False


def _until(proc, seen: bytearray, done, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        assert left > 0, f"output so far: {bytes(seen)!r}"
        if select.select([proc.stdout], [], [], min(left, 1.0))[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"the ctl ended: {bytes(seen)!r}"
            seen += chunk


def test_usage_errors(sshd, daemon):
    env = sshd.env(daemon.env)
    res = run_ctl(["-H", "hosta"], env)  # no command: the shell takes one daemon only
    assert res.returncode == 2 and "interactive shell" in res.stderr, res
    res = run_ctl(["-H", "hosta:run/x.sock", "status"], env)
    assert res.returncode == 2 and "must be absolute" in res.stderr, res
    res = run_ctl(["-c", str(daemon.config), "-H", "hosta", "status"], env)
    assert res.returncode == 2 and "remote socket" in res.stderr, res
    res = run_ctl(["--hosts", "/nonexistent/hosts", "status"], env)
    assert res.returncode == 2 and "/nonexistent/hosts" in res.stderr, res


# -- [http] hosts: the page shows other daemons through the same ssh route ---------------


def _hosts(port: int) -> dict[str, dict]:
    from integration.http_helpers import request

    status, _, body = request(port, "GET", "/api/hosts")
    assert status == 200, body
    return {h["host"]: h for h in json.loads(body)["result"]}


def _daemon_ssh(daemon) -> list[psutil.Process]:
    return _ssh_children(daemon.pid)


def test_http_hosts_show_and_act_on_remote_daemons(sshd, two_hosts, make_daemon):
    from integration.harness import wait_until
    from integration.http_helpers import post, start_http

    a, b, ta, tb = two_hosts
    front = make_daemon()
    front.env["SUPERVISORCTL_LITE_SSH"] = sshd.ssh_command
    hosts = json.dumps([ta, tb, "down:/run/x.sock"])
    port = start_http(front, {"local": sleeper()}, http=f"hosts = {hosts}")

    def up(text):
        return lambda: _hosts(port)[text]["state"] == "up"

    wait_until(up(ta), 15, message=lambda: str(_hosts(port)))
    wait_until(up(tb), 15, message=lambda: str(_hosts(port)))
    wait_until(lambda: _hosts(port)["down:/run/x.sock"]["error"], 15)
    got = _hosts(port)
    assert sorted(p["name"] for p in got[ta]["processes"]) == ["db", "web"]
    assert sorted(p["name"] for p in got[tb]["processes"]) == ["cache", "web"]
    assert got["down:/run/x.sock"]["state"] == "down"
    assert "Connection refused" in got["down:/run/x.sock"]["error"]

    # an action goes to the named host only
    status, reply = post(port, "hosts/stop", {"host": tb, "names": ["web"]})
    assert status == 200 and reply["result"][0]["ok"], reply
    assert b.status()["web"]["state"] == "STOPPED"
    assert a.status()["web"]["state"] == "RUNNING"
    assert front.status()["local"]["state"] == "RUNNING"
    wait_until(lambda: _state(port, tb, "web") == "STOPPED", 10)
    status, reply = post(port, "hosts/start", {"host": "nohost", "names": ["web"]})
    assert status == 404, reply
    status, reply = post(port, "hosts/start", {"host": "down:/run/x.sock", "names": ["web"]})
    assert status == 502 and reply["error"]["code"] == "UNREACHABLE", reply

    # the tunnel drops (its ssh killed): the host is down, then back through a new ssh
    victims = [p for p in _daemon_ssh(front) if f":{a.socket}" in " ".join(p.cmdline())]
    assert len(victims) == 1
    victims[0].kill()
    wait_until(lambda: _hosts(port)[ta]["state"] == "down", 10)
    wait_until(up(ta), 15, message=lambda: str(_hosts(port)))
    assert victims[0].pid not in [p.pid for p in _daemon_ssh(front)]

    # the remote daemon goes away and comes back
    b.ctl_ok("shutdown")
    wait_until(lambda: _hosts(port)[tb]["state"] == "down", 10)
    # the tunnel sees the end as EOF, or as EPIPE when it was writing at that moment
    error = _hosts(port)[tb]["error"]
    assert "closed the connection" in error or "Broken pipe" in error, error
    b.start()
    wait_until(up(tb), 15, message=lambda: str(_hosts(port)))

    # the daemon's shutdown ends every ssh it started
    tunnels = _daemon_ssh(front)
    assert len(tunnels) == 3 or len(tunnels) == 2  # `down`'s ssh may be between tries
    front.ctl_ok("shutdown")
    gone, alive = psutil.wait_procs(tunnels, timeout=5)
    assert not alive, alive


def _state(port: int, host: str, name: str) -> str | None:
    for p in _hosts(port)[host]["processes"]:
        if p["name"] == name:
            return p["state"]
    return None


def test_page_shows_each_host_and_its_buttons_act_there(sshd, two_hosts, make_daemon):
    from integration import browser
    from integration.harness import wait_until
    from integration.http_helpers import start_http

    if not browser.available():
        pytest.skip("needs /usr/bin/chromium and chromedriver")
    a, b, ta, tb = two_hosts
    front = make_daemon()
    front.env["SUPERVISORCTL_LITE_SSH"] = sshd.ssh_command
    port = start_http(front, {"web": sleeper()}, http=f"hosts = {json.dumps([ta, tb])}")
    row = "#hosts section[data-host='{}'] tr.proc[data-name='web']"
    state = "const tr = document.querySelector(arguments[0]); return tr && tr.dataset.state"
    with browser.chromium() as driver:
        driver.get(f"http://127.0.0.1:{port}/")
        for target in (ta, tb):
            wait_until(lambda t=target: driver.execute_script(state, row.format(t)), 15)
        heads = driver.execute_script(
            "return [...document.querySelectorAll('#hosts h2')].map(h => h.textContent)"
        )
        assert heads == [f"{ta} \u2014 up", f"{tb} \u2014 up"], heads
        driver.find_element("css selector", row.format(tb) + " button[data-cmd='stop']").click()
        b.wait_state("web", "STOPPED")
        wait_until(lambda: driver.execute_script(state, row.format(tb)) == "STOPPED", 10)
        assert a.status()["web"]["state"] == "RUNNING"
        assert front.status()["web"]["state"] == "RUNNING"


class FakeDaemon:
    """A Unix socket that answers every request line with `answer(request)` (a thread
    of the test: only the daemon must not have threads)."""

    def __init__(self, path: str, answer):
        import socket
        import threading

        self.answer = answer
        self.requests: list[dict] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data.endswith(b"\n"):
                    request = json.loads(data)
                    self.requests.append(request)
                    conn.sendall(json.dumps(self.answer(request)).encode() + b"\n")

    def close(self) -> None:
        self.sock.close()


def test_http_hosts_survive_a_reply_without_an_error(sshd, make_daemon, tmp_path):
    """A remote daemon answering {"ok": false} with no `error` stopped that host's
    polling for good (a KeyError in the poll's callback)."""
    from integration.harness import wait_until
    from integration.http_helpers import start_http

    broken = {"on": True}

    def answer(request):
        if broken["on"]:
            return {"id": request["id"], "ok": False}
        return {"id": request["id"], "ok": True, "result": [{"name": "x", "state": "RUNNING"}]}

    fake = FakeDaemon(str(tmp_path / "fake.sock"), answer)
    target = f"hostc:{tmp_path / 'fake.sock'}"
    front = make_daemon()
    front.env["SUPERVISORCTL_LITE_SSH"] = sshd.ssh_command
    try:
        port = start_http(front, {"local": sleeper()}, http=f"hosts = {json.dumps([target])}")
        wait_until(lambda: _hosts(port)[target]["state"] == "down", 15)
        assert "refused without saying why" in _hosts(port)[target]["error"]
        seen = len(fake.requests)
        wait_until(lambda: len(fake.requests) > seen, 10)  # still polled
        broken["on"] = False
        wait_until(lambda: _hosts(port)[target]["state"] == "up", 10)
        assert [p["name"] for p in _hosts(port)[target]["processes"]] == ["x"]
        assert "Traceback" not in front.logfile.read_text()
    finally:
        fake.close()


def test_http_hosts_error_text_stays_the_same_at_every_poll(sshd, two_hosts, make_daemon):
    """A remote daemon that is gone behind a live ssh: the error said at each poll is
    the same (it quoted every earlier poll's ssh words, and logged each time)."""
    from integration.harness import wait_until
    from integration.http_helpers import start_http

    a, b, ta, tb = two_hosts
    front = make_daemon()
    # ssh's default level, at which it notes each failed forward ("channel N: open
    # failed: ...") on stderr
    front.env["SUPERVISORCTL_LITE_SSH"] = sshd.ssh_command + " -o LogLevel=INFO"
    port = start_http(front, {"local": sleeper()}, http=f"hosts = {json.dumps([tb])}")
    wait_until(lambda: _hosts(port)[tb]["state"] == "up", 15)
    b.ctl_ok("shutdown")
    wait_until(lambda: _hosts(port)[tb]["state"] == "down", 10)
    # The request in flight at the shutdown may fail otherwise (a broken pipe): from the
    # first poll on a connection that finds the daemon gone, the text must stay.
    wait_until(lambda: "closed the connection" in (_hosts(port)[tb]["error"] or ""), 15)
    _hosts(port)  # one more answer: the log lines of that poll's turn are written by then
    errors = set()
    polls = front.logfile.read_text().count(f"host {tb} is down")

    def three_more_polls() -> bool:
        errors.add(_hosts(port)[tb]["error"])
        return len(errors) > 1 or _ssh_err_lines(front) >= 4

    wait_until(three_more_polls, 20)
    assert len(errors) == 1, errors
    error = errors.pop()
    assert "closed the connection (open failed" in error and "channel" not in error, error
    assert front.logfile.read_text().count(f"host {tb} is down") == polls


def _ssh_err_lines(front) -> int:
    """How many lines the front daemon's ssh has written to its -E file (a failed
    forward is one per poll)."""
    for p in _daemon_ssh(front):
        argv = p.cmdline()
        if "-E" in argv:
            with open(argv[argv.index("-E") + 1]) as fh:
                return len(fh.read().splitlines())
    return 0


def test_http_hosts_are_polled_only_while_someone_looks(sshd, two_hosts, make_daemon):
    """Polling every 2 s for ever kept a daemon with `hosts` from ever being idle: now
    it polls for a few seconds after each look (the page looks every 2 s), then sleeps
    until the next look, which brings fresh status within a poll."""
    from integration.harness import wait_until
    from integration.http_helpers import start_http

    a, b, ta, tb = two_hosts
    front = make_daemon()
    front.env["SUPERVISORCTL_LITE_SSH"] = sshd.ssh_command
    port = start_http(front, {"local": sleeper()}, http=f"hosts = {json.dumps([ta])}\n"
                      "idle_timeout = 1\n")  # fmt: skip
    wait_until(lambda: _hosts(port)[ta]["state"] == "up", 15)
    proc = psutil.Process(front.pid)

    def switches() -> int:
        c = proc.num_ctx_switches()
        return c.voluntary + c.involuntary

    def quiet_for_a_while() -> bool:
        before = switches()
        time.sleep(2.5)  # longer than a poll interval: a poll would show here
        return switches() == before

    wait_until(quiet_for_a_while, 30, interval=0)
    seen = _hosts(port)[ta]["as_of"]
    a.ctl_ok("stop", "web")
    wait_until(lambda: _state(port, ta, "web") == "STOPPED", 10)  # a look: polled again
    assert _hosts(port)[ta]["as_of"] > seen


def test_http_hosts_ssh_dies_with_the_daemon(sshd, two_hosts, make_daemon):
    """A SIGKILLed daemon's ssh tunnels used to live on (and the next daemon never knew
    them): each ssh now gets SIGTERM from the kernel when its daemon dies."""
    from integration.harness import wait_until
    from integration.http_helpers import start_http

    a, b, ta, tb = two_hosts
    front = make_daemon()
    front.env["SUPERVISORCTL_LITE_SSH"] = sshd.ssh_command
    port = start_http(front, {"local": sleeper()}, http=f"hosts = {json.dumps([ta, tb])}")
    wait_until(lambda: all(h["state"] == "up" for h in _hosts(port).values()), 15)
    tunnels = _daemon_ssh(front)
    assert len(tunnels) == 2
    os.kill(front.pid, signal.SIGKILL)

    def gone(p: psutil.Process) -> bool:
        try:
            return p.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(lambda: all(gone(p) for p in tunnels), 10, message=lambda: str(tunnels))


# -- 22.13: a wedged host, signals, a closed stdout, a wrong socket -----------------------


@pytest.fixture
def stopped():
    """Daemons frozen with SIGSTOP (a wedged host), thawed at teardown."""
    frozen: list[int] = []
    yield frozen
    for pid in frozen:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_a_wedged_host_times_out_and_the_healthy_ones_print(sshd, two_hosts, stopped):
    a, b, ta, tb = two_hosts
    stopped.append(a.pid)
    os.kill(a.pid, signal.SIGSTOP)
    res = ctl(sshd, b, "--timeout", "2", "-H", ta, "-H", tb, "status", timeout=40)
    assert res.returncode == 4, res
    got = blocks(res.stdout)
    assert list(got) == [ta, tb] and got[ta] == "", res.stdout
    assert "RUNNING" in got[tb] and "cache" in got[tb]
    assert f"{ta}: no answer from the daemon at" in res.stderr, res.stderr
    assert "in 2 s: it is stopped or wedged" in res.stderr


def test_the_single_host_ctl_gives_up_on_a_wedged_daemon_by_default(daemon, stopped):
    daemon.start({"web": sleeper()})
    stopped.append(daemon.pid)
    os.kill(daemon.pid, signal.SIGSTOP)
    res = daemon.ctl("status", timeout=40)  # the default --timeout (10 s)
    assert res.returncode == 4, daemon.describe(res)
    assert f"no answer from the daemon at {daemon.socket} in 10 s" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_a_long_start_is_waited_for_and_a_quiet_stream_is_never_timed_out(daemon):
    """The daemon answers while a start waits: alive, so waited for past --timeout. An
    events stream quiet for longer than --timeout (late runs 4 s) goes on."""
    slow = {"command": ["sleep", "300"], "startsecs": 4, "autostart": False}
    late = {"command": ["sleep", "4"], "startsecs": 0, "autostart": False, "autorestart": False}
    daemon.start({"web": sleeper(), "slow": slow, "late": late})
    res = daemon.ctl("--timeout", "1", "start", "slow", timeout=30)
    assert res.returncode == 0, daemon.describe(res)
    proc = subprocess.Popen(
        [*CTL_CMD, "-c", str(daemon.config), "--timeout", "1", "events"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=daemon.env,
    )
    seen = bytearray()
    try:
        daemon.ctl_ok("start", "late")
        _until(proc, seen, lambda: b'"process": "late"' in seen and b'"to": "EXITED"' in seen, 20)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()


def _tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_signal_to_the_ctl_ends_its_workers_and_tunnels(sshd, two_hosts, sig):
    a, b, ta, tb = two_hosts
    proc = events_ctl(sshd, a, "-H", ta, "-H", tb)
    seen = bytearray()
    try:
        _until(proc, seen, lambda p=proc: len(_ssh_children(p.pid)) == 2)
        _until(proc, seen, lambda: _restart_and_seen(a, b, seen, ta, tb))
        tree = _tree(proc.pid)  # the workers and their ssh
        assert len(tree) == 4, tree
        tunnels = [d for d in os.listdir("/tmp") if d.startswith("sdl-ssh-")]
        os.kill(proc.pid, sig)  # the ctl alone, not its process group
        proc.wait(15)
        if sig != signal.SIGKILL:
            assert proc.returncode == 128 + sig, proc.returncode
            assert b"Traceback" not in proc.stderr.read()
        gone, alive = psutil.wait_procs(tree, timeout=10)
        assert not alive, alive
        left = [d for d in os.listdir("/tmp") if d.startswith("sdl-ssh-") and d in tunnels]
        ours = [d for d in left if _owned_by(d, tree)]
        assert not ours, ours
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def _owned_by(tunnel_dir: str, tree: list[psutil.Process]) -> bool:
    """Whether an ssh of this tree used the tunnel directory (others' runs share /tmp)."""
    for p in tree:
        try:
            if tunnel_dir in " ".join(p.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


@pytest.mark.parametrize("many", [False, True])
def test_events_into_head_ends_quietly(sshd, two_hosts, tmp_path, many):
    a, b, ta, tb = two_hosts
    err = tmp_path / "err"
    target = ["-H", ta, "-H", tb] if many else ["-c", str(a.config)]
    line = " ".join(shlex.quote(w) for w in [*CTL_CMD, *target, "events"])
    proc = subprocess.Popen(
        ["sh", "-c", f"{line} 2>{shlex.quote(str(err))} | head -n 1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=sshd.env(a.env),
        start_new_session=True,
    )
    try:
        # head ends at the first line; the ctl then meets the closed pipe at the next
        deadline = time.monotonic() + 30
        while proc.poll() is None or _tree(proc.pid):
            assert time.monotonic() < deadline, err.read_text()
            a.ctl_ok("restart", "web")
            b.ctl_ok("restart", "web")
        assert proc.returncode == 0
        assert err.read_text() == "", err.read_text()
    finally:
        if proc.poll() is None or _tree(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_a_wrong_remote_socket_says_what_is_there(sshd, two_hosts):
    a, b, ta, tb = two_hosts
    wrong = f"hosta:{a.dir}/nosuch.sock"
    res = ctl(sshd, a, "-H", wrong, "status")
    assert res.returncode == 4, res
    assert f"there is no socket {a.dir}/nosuch.sock on hosta" in res.stderr, res.stderr
    res = ctl(sshd, a, "-H", f"hosta:{a.config}", "status")
    assert res.returncode == 4 and f"{a.config} on hosta is not a socket" in res.stderr, res
    res = ctl(sshd, a, "-H", "hosta:/nonexistent-dir/x.sock", "status")
    assert res.returncode == 4 and "no directory /nonexistent-dir on hosta" in res.stderr, res
