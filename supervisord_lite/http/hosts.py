"""[http] hosts: other daemons shown on this daemon's page, reached as the ctl's -H
reaches them (base/ssh.py: the daemon user's own `ssh -N -L private.sock:remote.sock`).

Nothing here blocks the loop: ssh is a child started by spawn.spawn_helper (reaped by
the reaper, its exit told through supervisor.watch_exit), its readiness word read from
a non-blocking pipe, and every request a non-blocking connection through the tunnel
with a deadline. ssh is started through a tiny exec wrapper that sets
PR_SET_PDEATHSIG: killed with the daemon (SIGKILL included), never left behind.

Hosts cost nothing while nobody looks: a host's `status` is polled every POLL_INTERVAL
seconds only for WATCH_WINDOW seconds after someone asked for the hosts (the page asks
every 2 s while open) or sent one a command. When ssh exits the host is down (with
ssh's last words) and, while watched, ssh is started again after 1, 2, 4 … up to
MAX_BACKOFF seconds; unwatched, at the next look. Imported only when [http] hosts is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from typing import Callable

from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.base.ssh import READY_WORD, Target, ssh_last_words, tunnel_argv
from supervisord_lite.linux.loop import now
from supervisord_lite.linux.spawn import spawn_helper_reading

CONNECT_TIMEOUT = 10.0  # seconds for ssh to connect, as the ctl's --connect-timeout default
POLL_INTERVAL = 2.0
WATCH_WINDOW = 5.0  # seconds of polling after the last look: the page looks every 2 s
REQUEST_TIMEOUT = 30.0  # a remote start waits for startsecs
MAX_BACKOFF = 60.0
MAX_REPLY = 16 * 1024 * 1024
MAX_MESSAGE = 500  # characters of a remote error shown and logged
MAX_SSH_LOG = 64 * 1024  # ssh's stderr file is emptied past this (ssh appends to it)
SSH_WORDS_DELAY = 0.2  # ssh writes why a forward failed just after closing it

# Run as `python -I -S -c DIE_WITH_DAEMON DAEMON_PID SSH ARGS...`: ssh gets SIGTERM when
# the daemon dies, however it dies (posix_spawn cannot set PR_SET_PDEATHSIG itself).
DIE_WITH_DAEMON = """\
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)  # the daemon died before prctl: nobody would end this ssh
os.execvp(sys.argv[2], sys.argv[2:])
"""


class RemoteHost:
    """One [http] hosts entry: its ssh tunnel, kept up, and its daemon's last status."""

    def __init__(self, text: str, loop, watch_exit, on_change: Callable[[], None]):
        self.target = Target(text)
        self.loop = loop
        self.watch_exit = watch_exit
        self.on_change = on_change
        self.dir = tempfile.mkdtemp(prefix="sdl-http-ssh-")
        self.local = os.path.join(self.dir, "fwd.sock")
        self.stderr_path = os.path.join(self.dir, "ssh.err")
        self.state = "connecting"
        self.error: str | None = None
        self.processes: list = []
        self.pid: int | None = None
        self.ready_fd = -1
        self.ready_seen = b""
        self.backoff = 1.0
        self.retry_timer = None  # the next ssh, after a drop
        self.poll_timer = None  # the next status, while the tunnel is up
        self.polling = False
        self.closed = False
        self.watched_until = 0.0  # poll (and reconnect) until then
        self.as_of: float | None = None  # wall-clock time of the last answer
        self.start_tunnel()

    def describe(self) -> dict:
        return {
            "host": self.target.text,
            "state": self.state,
            "error": self.error,
            "processes": self.processes,
            "as_of": self.as_of,
        }

    def watch(self) -> None:
        """Someone looks at this host: keep it fresh for WATCH_WINDOW seconds."""
        self.watched_until = now() + WATCH_WINDOW
        if self.closed:
            return
        if self.pid is None:
            if self.retry_timer is None:
                self.start_tunnel()  # it went down while nobody looked
        elif self.poll_timer is None and self.ready_fd < 0:
            self.poll()

    @property
    def watched(self) -> bool:
        return now() < self.watched_until

    # -- the tunnel ---------------------------------------------------------------

    def start_tunnel(self) -> None:
        self.retry_timer = None
        if os.path.exists(self.local):
            os.unlink(self.local)  # left by the ssh before: the new one must bind it
        open(self.stderr_path, "wb").close()  # -E appends: keep only this ssh's words
        argv = _tunnel_argv(self.target, self.local, self.stderr_path)
        if shutil.which(argv[0]) is None:  # the wrapper would fail with no word
            self._down(f"cannot run {argv[0]}: not found (PATH={os.environ.get('PATH', '')})")
            return
        wrapped = [sys.executable, "-I", "-S", "-c", DIE_WITH_DAEMON, str(os.getpid()), *argv]
        try:
            self.pid, r = spawn_helper_reading(wrapped)
        except OSError as exc:
            self._down(f"cannot run {sys.executable}: {exc.strerror}")
            return
        self.ready_fd, self.ready_seen = r, b""
        self.loop.add_reader(r, self._ready_readable)
        self.watch_exit(self.pid, self._ssh_exited)

    def _ready_readable(self) -> None:
        try:
            data = os.read(self.ready_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_ready()  # ssh exits: its exit says the rest
            return
        self.ready_seen = (self.ready_seen + data)[-256:]
        if READY_WORD in self.ready_seen:
            self._close_ready()
            self.backoff = 1.0
            self.poll()

    def _close_ready(self) -> None:
        if self.ready_fd >= 0:
            self.loop.remove_reader(self.ready_fd)
            os.close(self.ready_fd)
            self.ready_fd = -1

    def _ssh_exited(self, status) -> None:
        self.pid = None
        self._close_ready()
        if self.poll_timer is not None:
            self.poll_timer.cancel()
            self.poll_timer = None
        if self.closed:
            return
        said = ssh_last_words(self.stderr_path)
        self._down(said or f"ssh exited ({status})")

    def _down(self, reason: str) -> None:
        if self.state != "down" or self.error != reason:
            log.warning("http: host %s is down: %s", self.target.text, reason)
        self.state, self.error, self.processes = "down", reason, []
        self.on_change()
        if self.pid is not None:  # the tunnel lives but the daemon does not answer
            return
        if self.retry_timer is None and not self.closed and self.watched:
            self.retry_timer = self.loop.call_later(self.backoff, self.start_tunnel)
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)

    # -- requests -----------------------------------------------------------------

    def poll(self) -> None:
        if self.closed or self.polling or self.pid is None:
            return
        self.polling = True
        self._call("status", {}, self._polled)

    def _polled(self, reply: dict) -> None:
        self.polling = False
        if self.closed:
            return
        result = reply.get("result")
        if reply["ok"] and not isinstance(result, list):
            reply = _unreachable(f"{self.target.text}: its status is not a list of processes")
        if reply["ok"]:
            if self.state != "up":
                log.info("http: host %s is up", self.target.text)
            processes = [item for item in result if isinstance(item, dict)]
            self.state, self.error, self.processes = "up", None, processes
            self.as_of = time.time()
            self.on_change()
        else:
            self._down(reply["error"]["message"])
        if self.pid is not None and self.poll_timer is None and self.watched:
            self.poll_timer = self.loop.call_later(POLL_INTERVAL, self._poll_again)

    def _poll_again(self) -> None:
        self.poll_timer = None
        self.poll()

    def request(self, cmd: str, args: dict, done: Callable[[dict], None]) -> None:
        """One command on the remote daemon (someone is looking, then); done(reply)
        once: {"ok": true, "result": ...} or {"ok": false, "error": {code, message}}."""
        self.watch()
        self._call(cmd, args, done)

    def _call(self, cmd: str, args: dict, done: Callable[[dict], None]) -> None:
        if self.pid is None or (self.state == "connecting" and self.ready_fd >= 0):
            done(_unreachable(f"{self.target.text}: {self.error or 'not connected yet'}"))
            return
        try:
            if os.path.getsize(self.stderr_path) > MAX_SSH_LOG:
                os.truncate(self.stderr_path, 0)  # a long-lived tunnel's chatter
        except OSError:
            pass
        RemoteCall(self, cmd, args, done).start()

    def close(self) -> None:
        self.closed = True
        for timer in (self.retry_timer, self.poll_timer):
            if timer is not None:
                timer.cancel()
        self.retry_timer = self.poll_timer = None
        self._close_ready()
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)  # the reaper reaps it
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class RemoteCall:
    """One request through a host's tunnel, on the loop, within REQUEST_TIMEOUT."""

    def __init__(self, host: RemoteHost, cmd: str, args: dict, done):
        self.host = host
        self.loop = host.loop
        self.out = protocol.request(1, cmd, args)
        self.buf = protocol.LineBuffer(limit=MAX_REPLY)
        self.done_cb = done
        self.sock: socket.socket | None = None
        self.finished = False
        self.timer = self.loop.call_later(REQUEST_TIMEOUT, self._timed_out)
        try:  # ssh's words about this request only, not every earlier one's
            self.ssh_said_from = os.path.getsize(host.stderr_path)
        except OSError:
            self.ssh_said_from = 0

    def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        self.sock = sock
        try:
            sock.connect(self.host.local)
        except BlockingIOError:
            pass  # the listener's backlog is full: writable once accepted
        except OSError as exc:
            self.finish(_unreachable(f"{self.host.target.text}: the ssh tunnel: {exc.strerror}"))
            return
        self.loop.add_writer(sock.fileno(), self._writable)
        self.loop.add_reader(sock.fileno(), self._readable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return
        except (BrokenPipeError, ConnectionResetError):
            # ssh accepted, then closed as the remote end refused it: the same failure
            # as a read that finds the stream ended, and it must read the same
            self._ended()
            return
        except OSError as exc:
            self.finish(_unreachable(f"{self.host.target.text}: {exc.strerror}"))
            return
        self.out = self.out[sent:]
        if not self.out:
            self.loop.remove_writer(self.sock.fileno())

    def _readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._ended()
            return
        try:
            lines = self.buf.feed(data)
        except protocol.ProtocolError as exc:
            self.finish(_unreachable(f"{self.host.target.text}: {exc.message}"))
            return
        for line in lines:
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            if isinstance(reply, dict) and reply.get("id") == 1:
                self.finish(reply)
                return

    def _ended(self) -> None:
        """The tunnel closed this connection: ssh's words about why come just after."""
        self._stop_io()
        self.timer.cancel()
        self.timer = self.loop.call_later(SSH_WORDS_DELAY, self._closed)

    def _closed(self) -> None:
        """The stream ended with no reply: say so with what ssh said about it."""
        self.timer = None
        said = _without_channel_numbers(ssh_last_words(self.host.stderr_path, self.ssh_said_from))
        where = f"{self.host.target.destination}:{self.host.target.path}"
        message = f"the daemon at {where} closed the connection" + (f" ({said})" if said else "")
        self.finish(_unreachable(message))

    def _timed_out(self) -> None:
        self.timer = None
        self.finish(_unreachable(f"{self.host.target.text}: no answer in {REQUEST_TIMEOUT:g} s"))

    def _stop_io(self) -> None:
        if self.sock is not None:
            if self.sock.fileno() >= 0:
                self.loop.remove_reader(self.sock.fileno())
                self.loop.remove_writer(self.sock.fileno())
            self.sock.close()

    def finish(self, reply) -> None:
        if self.finished:
            return
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
        self._stop_io()
        self.done_cb(_well_formed(reply, self.host.target.text))


class RemoteHosts:
    """Every [http] hosts entry, by its text."""

    def __init__(self, texts, loop, watch_exit, on_change: Callable[[], None] = lambda: None):
        self.loop = loop
        self.watch_exit = watch_exit
        self.on_change = on_change
        self.hosts: dict[str, RemoteHost] = {}
        self.configure(texts)

    def configure(self, texts) -> None:
        """Take a reloaded list: new hosts connect, removed ones close, the rest stay."""
        for text in list(self.hosts):
            if text not in texts:
                self.hosts.pop(text).close()
        for text in texts:
            if text not in self.hosts:
                self.hosts[text] = RemoteHost(text, self.loop, self.watch_exit, self.on_change)

    def describe(self) -> list:
        """Every host as last seen; a look, so each is kept fresh for a while."""
        for host in self.hosts.values():
            host.watch()
        return [host.describe() for host in self.hosts.values()]

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
        self.hosts.clear()


def _tunnel_argv(target: Target, local: str, stderr_path: str) -> list[str]:
    """ssh's command line as the ctl's, its messages to a file (-E): spawn_helper gives
    a helper no stderr."""
    argv = tunnel_argv(target, local, CONNECT_TIMEOUT)
    return argv[:1] + ["-E", stderr_path] + argv[1:]


def _unreachable(message: str) -> dict:
    return {"id": 1, "ok": False, "error": {"code": "UNREACHABLE", "message": message}}


def _well_formed(reply, host: str) -> dict:
    """A remote reply as the rest of the daemon may read it without a check: "ok" a
    bool, and a failure's "error" a {code, message} of bounded strings. Another
    daemon is trusted for nothing: {"ok": false} with no error stopped the polling."""
    if not isinstance(reply, dict):
        return _unreachable(f"{host}: the daemon's reply is not a JSON object")
    if reply.get("ok") is True:
        return {"id": 1, "ok": True, "result": reply.get("result")}
    error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, str) or not code:
        code = protocol.INTERNAL
    if not isinstance(message, str) or not message:
        message = f"{host}: the daemon refused without saying why"
    return {"id": 1, "ok": False, "error": {"code": code[:64], "message": message[:MAX_MESSAGE]}}


def _without_channel_numbers(said: str) -> str:
    """ssh numbers each forwarded connection ("channel 3: open failed: ..."): the same
    failure must read the same at every poll (it is compared and logged on change)."""
    return re.sub(r"\bchannel \d+: ", "", said)
