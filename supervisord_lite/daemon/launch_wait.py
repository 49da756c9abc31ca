"""`supervisord-lite --wait`: the launcher, once the daemon is ready, waits until every
autostart process is RUNNING, so that the next line of a script (or of the README's
tour) sees them up, not STARTING.

The launcher's own job, after the daemon has detached: a blocking client of the control
socket (the launcher is not the daemon's loop). It follows the `events` stream, not a
poll, so a process that is RUNNING only for a moment (a crash loop) still counts as
having come up. It never imports the daemon side.
"""

from __future__ import annotations

import select
import socket
import sys
import time

from supervisord_lite.base import cjson, protocol
from supervisord_lite.base.progress import Progress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.config.model import DaemonConfig

EXIT_OK = 0
EXIT_FAILED = 1
EVENTS_ID, STATUS_ID = 1, 2


def awaited(config: DaemonConfig) -> list[str]:
    """The processes the daemon starts on its own: those of autostart programs, and of
    every program they depend on, all the way down (the daemon starts a dependency
    first, autostart or not)."""
    wanted: dict[str, None] = {}

    def want(name: str) -> None:
        program = config.programs.get(name)
        if program is None or name in wanted:
            return
        wanted[name] = None
        for dep in program.depends_on:
            want(dep)

    for name, program in config.programs.items():
        if program.autostart:
            want(name)
    return [proc for name, p in config.programs.items() if name in wanted for proc in p.processes]


def wait_running(config: DaemonConfig) -> int:
    """0 once each awaited process has been RUNNING; 1, saying which, when one is FATAL
    first (or the daemon goes away)."""
    names = awaited(config)
    if not names:
        return EXIT_OK
    progress = Progress()
    try:
        # A oneshot never is RUNNING: it has come up once it has completed (EXITED).
        jobs = {n for p in config.programs.values() if p.oneshot for n in p.processes}
        return _follow(config.socket, names, progress, jobs)
    except OSError as exc:
        progress.clear()
        print(f"supervisord-lite: --wait: lost the daemon: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        progress.clear()
        print("supervisord-lite: --wait: stopped waiting; the daemon runs on", file=sys.stderr)
        return EXIT_FAILED
    finally:
        progress.clear()


def _follow(path: str, names: list[str], progress: Progress, jobs: set[str]) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        # Subscribe first, then ask: no change can fall between the two. The stream
        # catches a RUNNING that lasts a moment; the status asked each second catches
        # a start the daemon refused (a dependency that ended), which is no transition.
        sock.sendall(protocol.request(EVENTS_ID, "events", None))
        buf = protocol.LineBuffer(limit=64 * 1024 * 1024)
        seen = Seen(names, jobs)
        asked_at = 0.0
        while True:
            waiting = [n for n in names if n not in seen.came_up]
            if not waiting:
                return EXIT_OK
            if seen.failed:
                progress.clear()
                for name, why in seen.failed.items():
                    print(f"supervisord-lite: --wait: {name} {why}", file=sys.stderr)
                return EXIT_FAILED
            first = waiting[0]
            more = f" and {len(waiting) - 1} more" if len(waiting) > 1 else ""
            progress.update(f"waiting for {first}{more} to be RUNNING: {seen.state[first]}")
            if time.monotonic() - asked_at >= 1.0:
                asked_at = time.monotonic()
                sock.sendall(protocol.request(STATUS_ID, "status", {"names": waiting}))
            if not select.select([sock], [], [], 0.2)[0]:
                continue
            data = sock.recv(1 << 20)
            if not data:
                raise ConnectionResetError("it closed the connection")
            for line in buf.feed(data):
                seen.apply(protocol.decode_reply(line))
    finally:
        sock.close()


class Seen:
    """What the stream and the status replies said of the awaited processes."""

    def __init__(self, names: list[str], jobs: set[str] = frozenset()):  # type: ignore[assignment]
        self.jobs = jobs  # oneshot processes: EXITED (completed) is their "up"
        self.state = {name: "?" for name in names}
        self.came_up: set[str] = set()
        self.failed: dict[str, str] = {}  # name -> why, as the user is told

    def apply(self, reply: dict) -> None:
        if not reply.get("ok"):
            raise ConnectionResetError(cjson.dumps(reply.get("error")))
        result = reply["result"]
        if reply.get("id") == STATUS_ID:
            for p in result:
                self._saw(p["name"], p["state"], p.get("description") or "")
        elif isinstance(result, dict) and result.get("to"):
            self._saw(result.get("process"), result["to"], None)

    def _saw(self, name, state: str, description: str | None) -> None:
        if name not in self.state:
            return
        self.state[name] = state
        if state == "RUNNING" or (state == "EXITED" and name in self.jobs):
            self.came_up.add(name)
        elif description is None:
            return  # a transition: its reason comes with the next status
        elif state == "FATAL":
            self.failed[name] = f"is FATAL: {description}"
        elif description.startswith("not started:"):
            self.failed[name] = f"was {description}"
