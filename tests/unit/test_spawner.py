"""linux/spawner.py with a real helper process and real children: what a child gets,
the OS's errors, and a helper that dies or stops falling back to spawning here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from supervisord_lite.linux import spawner as spawner_module
from supervisord_lite.linux.spawn import spawn_helper
from supervisord_lite.linux.spawner import START_AFTER, Spawner

pytestmark = pytest.mark.timeout(30)

SIGDEF = (int(signal.SIGPIPE), int(signal.SIGXFSZ))


class Turns:
    """The loop's two calls the spawner uses, run when the test says a turn ended."""

    def __init__(self) -> None:
        self.soon: list = []

    def call_soon(self, callback) -> None:
        self.soon.append(callback)

    def call_later(self, delay: float, callback) -> None:
        pass  # a spare's expiry: these tests end every turn themselves

    def end_turn(self) -> None:
        batch, self.soon = self.soon, []
        for callback in batch:
            callback()


@pytest.fixture
def spawner():
    made = Spawner(Turns(), lambda argv, fd: spawn_helper(argv, stdin_fd=fd))
    started: list[int] = []
    real_start = made._start

    def start() -> None:
        real_start()
        if made.helper is not None:
            started.append(made.helper.pid)

    made._start = start
    yield made
    made.retire()
    for pid in started:  # ours: the test process started it
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _spawn(spawner: Spawner, argv: list[str], fds: list[int], umask: int = 0o022):
    env = {b"PATH": b"/usr/bin:/bin", b"X": b"val"}
    return spawner.spawn(argv[0], argv, env, fds, umask, SIGDEF)


def _spawn_through_helper(spawner: Spawner, argv: list[str], fds: list[int], umask: int = 0o022):
    """Spawn until the helper, started by the burst, is ready and takes one."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pid = _spawn(spawner, argv, fds, umask)
        if pid is not None:
            return pid
        time.sleep(0.01)
    raise AssertionError("the helper never became ready")


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_fewer_spawns_than_a_burst_start_no_helper(spawner):
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for _ in range(START_AFTER - 1):
            assert _spawn(spawner, ["/bin/true"], [null, null, null]) is None
    finally:
        os.close(null)
    assert spawner.helper is None


def test_a_helper_child_gets_its_environment_umask_and_descriptors(spawner):
    null = os.open(os.devnull, os.O_RDWR)
    r, w = os.pipe()
    try:
        for _ in range(START_AFTER):
            assert _spawn(spawner, ["/bin/true"], [null, null, null]) is None
        assert spawner.helper is not None
        argv = ["/bin/sh", "-c", "umask; echo $X; ls /proc/self/fd | wc -l"]
        pid = _spawn_through_helper(spawner, argv, [null, w, null], umask=0o077)
        assert pid > 0
        os.close(w)
        w = -1
        # 0, 1, 2 and ls's own directory: nothing of the helper's leaked into it.
        assert _read_all(r).split() == [b"0077", b"val", b"4"]
    finally:
        for fd in (null, r, w):
            if fd >= 0:
                os.close(fd)
    helper = spawner.helper
    spawner.loop.end_turn()  # a helper that spawned dies with its turn
    assert spawner.helper is None
    assert os.waitpid(helper.pid, 0)[0] == helper.pid


def test_the_helpers_os_error_is_raised_here(spawner, tmp_path):
    not_executable = tmp_path / "script"
    not_executable.write_text("#!/bin/sh\n")
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for _ in range(START_AFTER):
            _spawn(spawner, ["/bin/true"], [null, null, null])
        deadline = time.monotonic() + 15
        while spawner.helper is not None and not spawner._became_ready(spawner.helper):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(PermissionError) as raised:
            _spawn(spawner, [str(not_executable)], [null, null, null])
    finally:
        os.close(null)
    assert raised.value.filename == str(not_executable)
    assert spawner.helper is not None  # an error of the program's, not the helper's


@pytest.mark.parametrize("fault", ["killed", "stopped"])
def test_a_helper_that_died_or_stopped_falls_back_to_spawning_here(spawner, monkeypatch, fault):
    monkeypatch.setattr(spawner_module, "ANSWER_TIMEOUT", 0.3)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for _ in range(START_AFTER):
            _spawn(spawner, ["/bin/true"], [null, null, null])
        _spawn_through_helper(spawner, ["/bin/true"], [null, null, null])
        helper = spawner.helper
        os.kill(helper.pid, signal.SIGKILL if fault == "killed" else signal.SIGSTOP)
        if fault == "killed":
            os.waitpid(helper.pid, 0)
        started = time.monotonic()
        assert _spawn(spawner, ["/bin/true"], [null, null, null]) is None
        assert time.monotonic() - started < 3
    finally:
        os.close(null)
    assert spawner.helper is None  # killed, whatever its state: nothing lingers
    if fault == "stopped":
        assert os.waitpid(helper.pid, 0)[0] == helper.pid


def test_no_helper_unless_its_children_would_come_back_to_us():
    """Not a child subreaper (nor PID 1): a dead helper's children would go to init."""
    program = (
        "import ctypes\n"
        "from supervisord_lite.linux import spawn\n"
        "spawn.use_spawner(None)\n"
        "print(spawn._spawner is None)\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER\n"
        "spawn.use_spawner(None)\n"
        "print(spawn._spawner is None)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=20, check=True
    )
    assert result.stdout.split() == ["True", "False"]


def test_a_helper_that_cannot_start_is_not_tried_again_at_every_spawn():
    launches = []

    def launch(argv, fd):
        launches.append(argv)
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    spawner = Spawner(Turns(), launch)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for _ in range(START_AFTER + 50):
            assert _spawn(spawner, ["/bin/true"], [null, null, null]) is None
        spawner.loop.end_turn()
        for _ in range(START_AFTER + 50):  # the next burst, within RETRY_AFTER
            assert _spawn(spawner, ["/bin/true"], [null, null, null]) is None
    finally:
        os.close(null)
    assert len(launches) == 1


def test_a_helper_that_exits_at_start_is_not_started_again_at_once():
    started = []

    def launch(argv, fd):  # a "helper" that exits without a word
        started.append(spawn_helper(["/bin/true"], stdin_fd=fd))
        return started[-1]

    spawner = Spawner(Turns(), launch)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        deadline = time.monotonic() + 10
        while spawner.failed_at is None:
            assert time.monotonic() < deadline, "the dead helper was never noticed"
            assert _spawn(spawner, ["/bin/true"], [null, null, null]) is None
            time.sleep(0.01)
        for _ in range(START_AFTER + 50):
            assert _spawn(spawner, ["/bin/true"], [null, null, null]) is None
    finally:
        os.close(null)
        for pid in started:
            os.waitpid(pid, 0)
    assert len(started) == 1 and spawner.helper is None


def test_no_descriptor_left_for_the_helper_means_spawning_here_not_an_error():
    """EMFILE for the helper's socket pair: the program's spawn must not fail with it."""
    program = (
        "import os, resource\n"
        "from supervisord_lite.linux.spawner import START_AFTER, Spawner\n"
        "launched = []\n"
        "spawner = Spawner(None, lambda argv, fd: launched.append(argv) or 0)\n"
        "spawner.loop = type('L', (), {'call_soon': lambda self, f: None})()\n"
        "null = os.open(os.devnull, os.O_RDWR)\n"
        "highest = max(int(n) for n in os.listdir('/proc/self/fd'))\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, hard))\n"
        "for _ in range(START_AFTER + 5):\n"
        "    assert spawner.spawn('/bin/true', ['true'], {}, [null] * 3, 0o22, ()) is None\n"
        "print(len(launched), spawner.failed_at is not None)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "True"]


# A helper that takes a request, starts its child, and then never answers (wedged): it
# writes the child's pid where the test can find it.
WEDGED = r"""
import os, signal, socket, sys
sock = socket.socket(fileno=0)
sock.send(b"ready")
sock.recv(1 << 20)
pid = os.posix_spawn("/bin/sleep", ["sleep", "60"], {}, setsid=True)
open(sys.argv[1], "w").write(str(pid))
signal.pause()
"""


def test_a_child_the_wedged_helper_never_told_us_of_is_killed(monkeypatch, tmp_path):
    monkeypatch.setattr(spawner_module, "ANSWER_TIMEOUT", 2.0)  # room for a loaded machine
    pid_file = tmp_path / "child.pid"
    started = []

    def launch(argv, fd):
        started.append(spawn_helper([sys.executable, "-c", WEDGED, str(pid_file)], stdin_fd=fd))
        return started[-1]

    spawner = Spawner(Turns(), launch)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for _ in range(START_AFTER):
            _spawn(spawner, ["/bin/true"], [null, null, null])
        deadline = time.monotonic() + 15
        while not spawner._became_ready(spawner.helper):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert _spawn(spawner, ["/bin/true"], [null, null, null]) is None  # it wedged
        child = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while _alive(child):
            assert time.monotonic() < deadline, "the untold child still runs"
            time.sleep(0.01)
    finally:
        os.close(null)
        _end_wedged(spawner, started, pid_file)


def _end_wedged(spawner: Spawner, started: list[int], pid_file) -> None:
    """Kill and reap a wedged helper, and kill the sleepers it wrote down: whatever the
    outcome, none outlives the test."""
    spawner.retire()
    for pid in started:
        os.waitpid(pid, 0)
    if pid_file.exists():
        for word in pid_file.read_text().split():
            try:
                os.kill(int(word), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _ready_helper(spawner: Spawner, null: int) -> None:
    for _ in range(START_AFTER):
        assert spawner.submit("/bin/true", ["true"], {}, [null] * 3, 0o022, SIGDEF) is None
    deadline = time.monotonic() + 15
    while not spawner._became_ready(spawner.helper):
        assert time.monotonic() < deadline, "the helper never became ready"
        time.sleep(0.01)


def test_requests_in_flight_are_claimed_in_any_order_within_the_byte_budget(spawner, monkeypatch):
    """A burst sends requests ahead and claims their pids later: each ticket gets its
    own child, whatever the order, and the requests waiting stay under IN_FLIGHT."""
    null = os.open(os.devnull, os.O_RDWR)
    pipes = [os.pipe() for _ in range(6)]
    try:
        _ready_helper(spawner, null)
        monkeypatch.setattr(spawner_module, "IN_FLIGHT", 600)  # two or three requests
        tickets = []
        for n, (_, w) in enumerate(pipes):
            argv = ["/bin/echo", f"request-{n}"]
            tickets.append(spawner.submit(argv[0], argv, {}, [null, w, null], 0o022, SIGDEF))
            assert spawner.helper.bytes_in_flight <= 600
        assert None not in tickets and len(set(tickets)) == len(tickets)
        pids = [spawner.collect(ticket) for ticket in reversed(tickets)]
        assert all(pid > 0 for pid in pids) and len(set(pids)) == len(pids)
        assert spawner.answers == {} and not spawner.helper.in_flight
        for _, w in pipes:
            os.close(w)
        assert [_read_all(r) for r, _ in pipes] == [b"request-%d\n" % n for n in range(6)]
    finally:
        os.close(null)
        for r, _ in pipes:
            os.close(r)
        spawner.loop.end_turn()


# A helper that takes two requests, starts a child for each, answers only the first,
# and hangs: it writes the children's pids where the test can find them, before it
# answers (the test reads them once it has the answer).
WEDGED_AFTER_ONE = r"""
import marshal, os, signal, socket, sys
sock = socket.socket(fileno=0)
sock.send(b"ready")
pids = []
for _ in range(2):
    sock.recv(1 << 20)
    pids.append(os.posix_spawn("/bin/sleep", ["sleep", "60"], {}, setsid=True))
with open(sys.argv[1] + ".tmp", "w") as out:  # before the answer: the test reads it then
    out.write(" ".join(map(str, pids)))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
sock.send(marshal.dumps((pids[0], 0, "", None)))
signal.pause()
"""


def test_a_helper_failing_with_requests_in_flight_fails_them_all_and_kills_what_it_never_told(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(spawner_module, "ANSWER_TIMEOUT", 2.0)  # room for a loaded machine
    pid_file = tmp_path / "children"
    started = []

    def launch(argv, fd):
        command = [sys.executable, "-c", WEDGED_AFTER_ONE, str(pid_file)]
        started.append(spawn_helper(command, stdin_fd=fd))
        return started[-1]

    spawner = Spawner(Turns(), launch)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        _ready_helper(spawner, null)
        tickets = [
            spawner.submit("/bin/true", ["true"], {}, [null] * 3, 0o022, SIGDEF) for _ in range(3)
        ]
        assert None not in tickets
        told = spawner.collect(tickets[0])
        told_pid, untold_pid = (int(word) for word in pid_file.read_text().split())
        assert told == told_pid
        assert spawner.collect(tickets[1]) is None  # wedged: the caller spawns it itself
        assert spawner.helper is None
        started_at = time.monotonic()
        assert spawner.collect(tickets[2]) is None  # failed with it, no second wait
        assert time.monotonic() - started_at < 0.2
        deadline = time.monotonic() + 5
        while _alive(untold_pid):
            assert time.monotonic() < deadline, "the untold child still runs"
            time.sleep(0.01)
        assert _alive(told_pid)  # a child we were told of is ours: it runs on
    finally:
        os.close(null)
        _end_wedged(spawner, started, pid_file)
