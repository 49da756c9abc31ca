"""The ctl's side of the connection: finding the daemon's socket (cheaply: without the
config module), the blocking connection, and why it cannot be reached, with what to do.

Like main.py it imports only the wire protocol and base/paths.py, never the daemon side, and
tomllib only when a config's socket line is not plain: the ctl's start-up time is a
feature. It must not print anything.
"""

from __future__ import annotations

import _signal
import _socket  # socket.py would add ~3 ms of imports (selectors, enum classes)
import os
import select
import sys
import time

from supervisord_lite.base import protocol
from supervisord_lite.base.paths import DEFAULT_SOCKET, ConfigNotFound, find_config_path
from supervisord_lite.ctl import socket_lines

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the ctl's start-up ~2 ms
    from typing import Callable

# The ctl's own error codes, for --json: the daemon's socket could not be reached; the
# config that names it is missing, unreadable or refused.
UNREACHABLE = "UNREACHABLE"
NO_CONFIG = "NO_CONFIG"
# -H/--hosts: hosts reached at a time, and ssh's connect timeout in seconds
DEFAULT_PARALLEL = 16
DEFAULT_CONNECT_TIMEOUT = 10.0
# How long a daemon asked whether it is alive may stay silent (--timeout), and after how
# many seconds of silence it is asked; the progress line's redraw period.
DEFAULT_TIMEOUT = 10.0
PING_AFTER = 2.0
TICK = 0.2


class Unreachable(Exception):
    """The daemon's socket cannot be reached."""


class NoConfig(Unreachable):
    """The config that names the socket is missing, unreadable or refused: the user's
    to fix (a usage error, exit 2), not a daemon to start."""


class Connection:
    """The blocking connection, and how long the daemon may be silent.

    A reply may rightly take long (a `start` waits for RUNNING, a `stop` for
    stopwaitsecs), so silence alone proves nothing: after PING_AFTER seconds of it the
    connection asks the daemon whether it is alive (a `version` request on the same
    connection, which the daemon answers while the other reply is parked), and a daemon
    that does not answer that within `timeout` seconds is stopped or wedged:
    Unreachable. Streams (events, tail -f) may be quiet for hours: once one has begun
    (`streaming`), nothing is asked. `on_tick`, when set, is called about every TICK
    seconds while waiting (the progress line)."""

    def __init__(self, path: str, timeout: float | None = DEFAULT_TIMEOUT):
        self.path = path
        self.timeout = timeout or None  # None: wait for ever
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        # connect() blocks only when the daemon's listen queue is full, as a wedged
        # daemon's soon is
        self.sock.settimeout(self.timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            reason = exc.strerror or f"no answer in {self.timeout:g} s"
            raise Unreachable(f"cannot connect to {path}: {reason}") from None
        self.sock.settimeout(None)
        self.buf = protocol.LineBuffer(limit=256 * 1024 * 1024)
        self.lines: list[bytes] = []
        self.next_id = 1
        self.streaming = False
        self.on_tick: Callable[[], None] | None = None
        self.side: dict[int, Callable[[dict], None]] = {}  # replies not the command's
        self.heard = time.monotonic()
        self.probe_sent: float | None = None
        self.wakeup = -1  # wake_on_signals()'s read end: readable once a signal came

    def wake_on_signals(self) -> None:
        """Let a signal (Ctrl-C) end every wait, even one it lands just before.

        Python runs a signal's handler between bytecodes: one that arrives after the
        last check and before select() blocks is noticed only when select() returns,
        which in a quiet stream (`tail -f`, `fg`) is never. Python's C handler also
        writes to the wakeup fd, which every wait here watches."""
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        _signal.set_wakeup_fd(w)  # _signal: signal.py would import enum (~2 ms)
        self.wakeup = r

    def woken(self, ready: list) -> bool:
        """Whether a signal woke this wait (its handler has run by now); the pipe is
        emptied for the next."""
        if self.wakeup < 0 or self.wakeup not in ready:
            return False
        try:
            os.read(self.wakeup, 512)
        except BlockingIOError:
            pass
        return True

    def send(self, cmd: str, args: dict | None = None, on_reply=None) -> int:
        """Send a request; its id. With on_reply, its reply goes there, not to
        receive()'s caller."""
        req_id = self.next_id
        self.next_id += 1
        if on_reply is not None:
            self.side[req_id] = on_reply
        self.sock.sendall(protocol.request(req_id, cmd, args))
        return req_id

    def receive(self) -> dict | None:
        """The next reply, or None when the daemon closed the connection. Raises
        Unreachable when it stops answering (see the class)."""
        while True:
            while not self.lines:
                self._wait_readable()
                try:
                    data = self.sock.recv(1 << 20)
                except ConnectionResetError:
                    return None
                if not data:
                    return None
                self.heard = time.monotonic()
                self.lines.extend(self.buf.feed(data))
            reply = protocol.decode_reply(self.lines.pop(0))
            req_id = reply.get("id")
            callback = self.side.pop(req_id, None) if isinstance(req_id, int) else None
            if callback is None:
                return reply
            callback(reply)

    def _wait_readable(self) -> None:
        fd = self.sock.fileno()
        while True:
            checking = self.timeout is not None and not self.streaming
            tick = TICK if self.on_tick is not None else (PING_AFTER if checking else None)
            ready = select.select([fd] if self.wakeup < 0 else [fd, self.wakeup], [], [], tick)[0]
            if fd in ready:
                return
            if self.woken(ready):
                continue
            if self.on_tick is not None:
                self.on_tick()
            if checking:
                self._check_alive()

    def _check_alive(self) -> None:
        now = time.monotonic()
        if self.probe_sent is None:
            if now - self.heard >= PING_AFTER:
                self.probe_sent = now
                self.send("version", on_reply=self._alive)
        elif now - max(self.probe_sent, self.heard) >= self.timeout:
            raise Unreachable(
                f"no answer from the daemon at {self.path} in {self.timeout:g} s: it is "
                "stopped or wedged (--timeout SECONDS waits longer, 0 for ever)"
            )

    def _alive(self, reply: dict) -> None:
        self.probe_sent = None

    def call(self, cmd: str, args: dict | None = None) -> dict:
        try:
            self.send(cmd, args)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused at once (TOO_MANY_CLIENTS): the reason may be waiting to be read
        reply = self.receive()
        if reply is None:
            raise Unreachable(self.closed_reason())
        return reply

    def closed_reason(self) -> str:
        return f"the daemon at {self.path} closed the connection"

    def wait_gone(self, timeout: float, pid: int | None = None) -> None:
        """Wait (up to timeout) until the daemon has removed its socket and, given its
        pid, until that process has ended (gone, or a zombie: it runs nothing more).
        It removes its socket and pidfile a moment before it exits: an init script that
        checks the pid right after `shutdown` must find it gone."""
        deadline = time.monotonic() + timeout
        while os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.01)
        while pid is not None and _running(pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.sock.close()


def _running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (proc(5): the state after the name)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


def _plain_socket(head: str, rest: str) -> str | None:
    """The [supervisord] socket, read from the simple lines nearly every config has
    (`socket = "..."` with no escapes, in a `[supervisord]` table), without tomllib,
    whose import costs ~9 ms. None when the text is not that plain (multi-line strings,
    dotted or inline-table keys, several socket lines, [supervisord] below the programs):
    then tomllib decides. Lenient like socket_path: it does not check the rest."""
    if '"""' in head or "'''" in head:
        return None
    in_supervisord = False
    found = []
    for line in head.splitlines():
        line = line.strip()
        if not line or line[0] == "#":
            continue
        if line[0] == "[":
            in_supervisord = socket_lines.is_supervisord_header(line)
            continue
        value = socket_lines.socket_value(line) if in_supervisord else None
        if value is not None:
            found.append(value)
        elif socket_lines.names_socket_key(line):
            return None
    if len(found) > 1 or (not found and "supervisord" in rest):
        return None
    return found[0] if found else DEFAULT_SOCKET


def _tomllib_socket(path: str, text: str, cut: int) -> object:
    """The [supervisord] socket value by tomllib: from the text before `cut` if that
    settles it, else from the whole text."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on the 3.9/3.10 CI only
        import tomli as tomllib

    section = None
    whole = True  # parse the whole file?
    if cut < len(text):
        try:
            section = tomllib.loads(text[:cut]).get("supervisord")
        except ValueError:
            pass  # the whole file decides (and names the error if it is real)
        else:
            whole = section is None and "supervisord" in text[cut:]
    if whole:
        try:
            section = tomllib.loads(text).get("supervisord")
        except ValueError as exc:
            raise NoConfig(f"cannot read {path} to find the socket: {exc}") from None
    return section.get("socket") if isinstance(section, dict) else None


def socket_path(args) -> str:
    """-s, else the config's socket. Lenient on purpose: a config with mistakes in its
    programs must not stop the ctl from reaching the daemon (to reload a fixed one).

    Fast too: it reads only the part of the file before the first [programs.*] table
    (includes only hold programs, so they are never read), and the whole file only
    when that part does not settle it ([supervisord] below the programs, or a head the
    cut broke, e.g. inside a multi-line string)."""
    if args.socket:
        return args.socket
    try:
        path = find_config_path(args.config)
    except ConfigNotFound as exc:
        raise NoConfig(str(exc)) from None
    try:
        with open(path, "rb") as f:
            text = f.read().decode()
    except (OSError, ValueError) as exc:
        raise NoConfig(f"cannot read {path} to find the socket: {exc}") from None
    cut = socket_lines.programs_cut(text)
    socket_value = _plain_socket(text[:cut], text[cut:])
    if socket_value is None:
        socket_value = _tomllib_socket(path, text, cut)
    if not isinstance(socket_value, str):
        socket_value = DEFAULT_SOCKET
    return os.path.join(os.path.dirname(os.path.abspath(path)), socket_value)


def unreachable_hint(args) -> str:
    """What to do: start the daemon, or, if it runs and only its socket is gone, make
    it bind the socket again."""
    pid = None if args.socket else _live_daemon_pid(args.config)
    if pid is not None:
        return (
            f"The daemon runs (pid {pid}) but its socket is missing; "
            f"make it re-create the socket with: kill -HUP {pid}"
        )
    hint = "Is the daemon running? Start it with: supervisord-lite"
    if args.config:
        hint += f" -c {args.config}"
    return hint


def _live_daemon_pid(config: str | None) -> int | None:
    """The pid of the daemon holding the config's pidfile lock, or None."""
    import fcntl

    try:
        path = find_config_path(config)
        pidfile = _pidfile_path(path)
        fd = os.open(pidfile, os.O_RDONLY | os.O_CLOEXEC)
    except (ConfigNotFound, OSError, ValueError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a daemon lives, and it holds the lock all its life
            return int(os.pread(fd, 32, 0).split()[0])
        return None
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(fd)


def _pidfile_path(config_path: str) -> str:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on the 3.9/3.10 CI only
        import tomli as tomllib

    with open(config_path, "rb") as f:
        section = tomllib.load(f).get("supervisord")
    pidfile = section.get("pidfile") if isinstance(section, dict) else None
    if not isinstance(pidfile, str):
        pidfile = "supervisord_lite.pid"  # config.DAEMON_KEYS' default
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), pidfile)
