"""Spawning through a helper process while the daemon's descriptor table is large.

Why: every clone copies the caller's descriptor table and every exec then closes the
close-on-exec entries, touching each open file twice. A daemon holding 10,000 pipe
ends pays ~1.3 ms more per spawn than one holding none (docs/benchmarks.md), so
starting 10,000 programs costs the square of their number. A helper holds a handful of
descriptors: its `posix_spawn` costs what a small process's does, whatever we hold.

The children must stay ours (the reaper's `waitid`, `reexec`): the daemon is a child
subreaper, so once the helper dies its children are re-parented to us, the live ones
and the exited ones alike (the kernel sends us SIGCHLD for those). So a helper lives for
one burst only: it is killed at the end of the loop turn in which it spawned, and what
it started is ours from then on. Until then an exit waits, as a zombie of the helper,
for the end of the turn; the pid cannot be reused meanwhile, so signalling it is safe.

A burst is START_AFTER spawns in one turn with the table past FROM_FD: only then does a
helper start (a Python at ~15 ms of CPU), and the spawns go on in the daemon until it
is ready. A request is a ticket (`submit`) whose pid is claimed later (`collect`): a
burst sends the next requests while the daemon files the last child, so the helper's
spawning and the daemon's own work overlap (`spawn` is both at once). The helper answers
in order; answers arrive for any ticket and wait to be claimed. Any failure of the
helper fails every unclaimed ticket, and the caller spawns those in the daemon.

It must not decide what a child gets (spawn.py builds argv, environment and
descriptors) nor reap anything (the reaper collects the helper like any orphan).
"""

from __future__ import annotations

import ctypes
import marshal
import os
import select
import signal
import socket
import sys
import time
from collections import deque
from typing import Callable

from supervisord_lite.base.log import log

# benchmarks/spawn_helper.py: a spawn in the daemon costs 0.46 ms holding no descriptors
# and 1.03 ms holding 10,000; through a ready helper, ~0.6 ms at any count. They cross
# between 2000 and 4000.
FROM_FD = 3000
START_AFTER = 8
ANSWER_TIMEOUT = 5.0  # s: past this a helper is wedged (stopped): kill it, spawn here
SPARE_FOR = 1.0  # s: a helper that became ready after its burst waits this long for more
# bytes: requests sent and not yet answered stay under this, so a send never blocks (a
# socket pair's buffer holds ~200 KiB); past it the oldest answer is read first.
IN_FLIGHT = 64 * 1024
FAILED = object()  # a ticket's answer when the helper failed: the caller spawns it
# s: after a helper failed (could not start, died, wedged), bursts spawn in the daemon
# this long: a broken interpreter must not cost a failed start at every spawn.
RETRY_AFTER = 60.0

# The helper: spawn each request with the descriptors that came with it, answer the pid
# or the OS's error; stop at EOF. Isolated (-I -S): it imports nothing of ours, so an
# upgrade on disk cannot change the protocol under a running daemon.
_HELPER = r"""
import array, marshal, os, socket
os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # whatever its starter leaked: not for children
sock = socket.socket(fileno=0)
sock.send(b"ready")
room = socket.CMSG_LEN(8 * 4)
while True:
    # recvmsg, not socket.recv_fds, which drops its flags: the descriptors must arrive
    # close-on-exec, or every child would inherit the others' copies.
    data, ancillary, _, _ = sock.recvmsg(1 << 20, room, socket.MSG_CMSG_CLOEXEC)
    if not data:
        break
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    path, argv, env, umask, sigdef = marshal.loads(data)
    old = os.umask(umask)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(fds)]
        pid = os.posix_spawn(path, argv, env, file_actions=actions, setsid=True,
                             setsigmask=(), setsigdef=sigdef)
        answer = (pid, 0, "", None)
    except OSError as exc:
        answer = (0, exc.errno or 0, exc.strerror or str(exc), exc.filename)
    finally:
        os.umask(old)
        for fd in fds:
            os.close(fd)
    sock.send(marshal.dumps(answer))
"""


_PR_GET_CHILD_SUBREAPER = 37


def _kill_unanswered(helper: _Helper) -> None:
    """A helper that fails mid-request may have started that request's child without
    telling us its pid: once the helper dies it would be ours, running untracked, and
    we spawn the program again. While the helper lives (stopped, wedged), the kernel's
    list of its children names it: every child of the helper we were never told of
    dies, with its session's group (setsid: pgid = pid).

    A helper already dead (killed by someone) has handed its children to us already:
    a copy it started for the last request is then beyond telling apart from an
    orphan of a program's, and is left (docs/security.md)."""
    try:
        with open(f"/proc/{helper.pid}/task/{helper.pid}/children") as listing:
            children = [int(word) for word in listing.read().split()]
    except (OSError, ValueError):
        return
    for pid in children:
        if pid in helper.answered:
            continue
        log.warning("killing pid %d: the failed spawn helper started it untold", pid)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:  # not a group leader yet (killed before its setsid)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def children_come_back() -> bool:
    """Whether a dead helper's children would be re-parented to us: we are PID 1 or a
    child subreaper. Otherwise they would go to init, lost to us: no helper then."""
    if os.getpid() == 1:
        return True
    try:
        flag = ctypes.c_int(0)
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and bool(
            flag.value
        )
    except (OSError, AttributeError):
        return False


class _Helper:
    __slots__ = ("pid", "sock", "ready", "used", "poller", "answered", "in_flight",
                 "bytes_in_flight")  # fmt: skip

    def __init__(self, pid: int, sock: socket.socket):
        self.pid = pid
        self.sock = sock
        self.ready = False
        self.used = False  # spawned something: it must die for its children to be ours
        self.answered: set[int] = set()  # the pids it told us: the children we track
        self.poller = select.poll()
        self.poller.register(sock.fileno(), select.POLLIN)
        self.in_flight: deque[tuple[int, int]] = deque()  # (ticket, request bytes), oldest first
        self.bytes_in_flight = 0


class Spawner:
    """The daemon's one helper at a time; see the module's docstring."""

    def __init__(self, loop, launch: Callable[[list[str], int], int]):
        self.loop = loop  # call_soon and call_later: the end of a turn, a spare's time
        self.launch = launch  # (argv, stdin fd) -> pid: spawn.spawn_helper
        self.helper: _Helper | None = None
        self.turn_spawns = 0  # spawns this turn with a large table
        self.turn_end_due = False
        self.failed_at: float | None = None  # when a helper last failed (RETRY_AFTER)
        self.answers: dict[int, object] = {}  # ticket -> answer (or FAILED), unclaimed
        self.next_ticket = 0  # across helpers: a failed ticket's number is never reused

    def spawn(self, path: str, argv: list, env: dict, fds: list[int], umask: int,
              sigdef: tuple[int, ...]) -> int | None:  # fmt: skip
        """The child's pid, spawned by the helper with `fds` as its 0, 1, 2; None when
        there is no helper ready (the caller spawns it itself). Raises the OSError the
        helper's posix_spawn raised (a missing executable)."""
        ticket = self.submit(path, argv, env, fds, umask, sigdef)
        return None if ticket is None else self.collect(ticket)

    def submit(self, path: str, argv: list, env: dict, fds: list[int], umask: int,
               sigdef: tuple[int, ...]) -> int | None:  # fmt: skip
        """Send a spawn request; its ticket for `collect`, or None when no helper is
        ready (the caller spawns it itself). `fds` are copied into the request: the
        caller keeps its own until it has collected, for a fallback."""
        self.turn_spawns += 1
        if not self.turn_end_due:
            self.turn_end_due = True
            self.loop.call_soon(self._turn_ended)
        helper = self.helper
        if helper is None:
            if self.turn_spawns >= START_AFTER and not self._resting():
                self._start()
            return None
        if not helper.ready and not self._became_ready(helper):
            return None
        request = marshal.dumps((path, argv, env, umask, sigdef))
        if len(request) > IN_FLIGHT:
            return None
        try:
            while helper.in_flight and helper.bytes_in_flight + len(request) > IN_FLIGHT:
                self._receive(helper)
            socket.send_fds(helper.sock, [request], fds)
        except (OSError, ValueError, EOFError, TypeError) as exc:
            self._helper_failed(helper, exc)
            return None
        helper.used = True
        ticket = self.next_ticket
        self.next_ticket += 1
        helper.in_flight.append((ticket, len(request)))
        helper.bytes_in_flight += len(request)
        return ticket

    def collect(self, ticket: int) -> int | None:
        """The pid of a submitted request; None when the helper failed before answering
        it (the caller spawns it itself). Raises the OSError of the helper's posix_spawn."""
        helper = self.helper
        while ticket not in self.answers and helper is not None and helper.in_flight:
            try:
                self._receive(helper)
            except (OSError, ValueError, EOFError, TypeError) as exc:
                self._helper_failed(helper, exc)
        answer = self.answers.pop(ticket, FAILED)
        if answer is FAILED:
            return None
        pid, errno, strerror, filename = answer
        if pid:
            return pid
        raise OSError(errno, strerror, filename)

    def _receive(self, helper: _Helper) -> None:
        """Read the helper's answer to its oldest request (blocking up to ANSWER_TIMEOUT)."""
        if not helper.poller.poll(ANSWER_TIMEOUT * 1000):
            raise TimeoutError(f"no answer in {ANSWER_TIMEOUT:g} s")
        data = helper.sock.recv(4096)
        if not data:
            raise ConnectionError("it exited")
        answer = marshal.loads(data)
        ticket, size = helper.in_flight.popleft()
        helper.bytes_in_flight -= size
        if answer[0]:
            helper.answered.add(answer[0])
        self.answers[ticket] = answer

    def _helper_failed(self, helper: _Helper, exc: BaseException) -> None:
        log.error(
            "spawn helper (pid %d) failed: %s; spawning its unanswered requests in the daemon",
            helper.pid,
            exc,
        )
        self._failed()

    def retire(self) -> None:
        """Kill the helper, so that what it started is ours at once (re-parented to the
        subreaper); the reaper collects the helper itself as an orphan."""
        helper, self.helper = self.helper, None
        if helper is None:
            return
        if helper.in_flight:  # unclaimed: their callers spawn them in the daemon
            _kill_unanswered(helper)
            for ticket, _ in helper.in_flight:
                self.answers[ticket] = FAILED
            helper.in_flight.clear()
        helper.sock.close()
        try:
            os.kill(helper.pid, signal.SIGKILL)  # not EOF: a stopped helper would linger
        except ProcessLookupError:
            pass

    def _failed(self) -> None:
        self.retire()
        self.failed_at = time.monotonic()

    def _resting(self) -> bool:
        return self.failed_at is not None and time.monotonic() - self.failed_at < RETRY_AFTER

    def _start(self) -> None:
        try:  # a descriptor short (EMFILE) is no reason to fail the program's spawn
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError as exc:
            log.warning("cannot start the spawn helper: %s; spawning in the daemon", exc)
            self._failed()
            return
        try:
            pid = self.launch([sys.executable, "-I", "-S", "-c", _HELPER], theirs.fileno())
        except OSError as exc:
            log.warning("cannot start the spawn helper: %s; spawning in the daemon", exc)
            ours.close()
            self._failed()
            return
        finally:
            theirs.close()
        self.helper = _Helper(pid, ours)
        log.info("spawning through a helper (pid %d): descriptor table past %d", pid, FROM_FD)

    def _became_ready(self, helper: _Helper) -> bool:
        try:
            word = helper.sock.recv(16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            word = b""
        if word != b"ready":
            log.error("spawn helper (pid %d) exited at start; spawning in the daemon", helper.pid)
            self._failed()
            return False
        helper.ready = True
        return True

    def _turn_ended(self) -> None:
        self.turn_end_due = False
        helper = self.helper
        if helper is not None:
            if helper.used or self.turn_spawns < START_AFTER:
                self.retire()  # its children become ours now; or the burst is over
            else:  # ready too late for its burst: a next one may follow at once
                self.loop.call_later(SPARE_FOR, lambda: self._drop_spare(helper))
        self.turn_spawns = 0

    def _drop_spare(self, helper: _Helper) -> None:
        if self.helper is helper and not helper.used:
            self.retire()
