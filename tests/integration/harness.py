"""The integration harness: a real daemon in a short temp dir, driven by the real ctl.

Every process a test's daemon starts inherits SDL_TEST_SESSION / SDL_TEST_TAG in its
environment (children get the daemon's environment), which is how teardown finds strays
even after the daemon itself was SIGKILLed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import psutil
import pytest

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
BIN = Path(sys.executable).parent
SESSION_TOKEN = uuid.uuid4().hex


def _script(name: str, module: str) -> list[str]:
    """The venv console script, or `python -m module` when it is not installed."""
    path = BIN / name
    if path.exists():
        return [str(path)]
    return [sys.executable, "-m", module]


DAEMON_CMD = _script("supervisord-lite", "supervisord_lite")
CTL_CMD = _script("supervisorctl-lite", "supervisord_lite.ctl")


def helper(name: str, *args: Any) -> list[str]:
    """A command array running tests/helpers/<name>.py with this interpreter."""
    return [sys.executable, str(HELPERS / f"{name}.py"), *(str(a) for a in args)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "",
) -> Any:
    """Poll `predicate` until it returns something truthy (returned); raise with context."""
    deadline = time.monotonic() + timeout
    last: Any = None
    last_exc: BaseException | None = None
    while True:
        try:
            last = predicate()
            last_exc = None
            if last:
                return last
        except Exception as exc:  # a predicate may race with a dying process
            last_exc = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    what = message() if callable(message) else message
    detail = f"last value {last!r}" if last_exc is None else f"last error {last_exc!r}"
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {detail}")


# ---------------------------------------------------------------------------- TOML writing


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(tables: dict[str, dict[str, Any]]) -> str:
    """{"supervisord": {...}, "programs.web": {...}} -> TOML text."""
    out = []
    for table, keys in tables.items():
        out.append(f"[{table}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in keys.items())
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------- the daemon


def _environ(proc: psutil.Process) -> dict[str, str]:
    try:
        return proc.environ()
    except (psutil.Error, OSError):
        return {}


class Daemon:
    """One test's daemon: config, launch, ctl, status, and a hard teardown."""

    def __init__(self, root: Path):
        self.dir = root
        self.config = root / "sdl.toml"
        self.socket = root / "sdl.sock"
        self.pidfile = root / "sdl.pid"
        self.logfile = root / "sdl.log"
        self.log_dir = root / "logs"
        self.tag = str(root)
        self.known_pids: set[int] = set()
        self.env = dict(os.environ)
        self.env["SDL_TEST_SESSION"] = SESSION_TOKEN
        self.env["SDL_TEST_TAG"] = self.tag
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("SUPERVISORD_LITE_CONFIG", None)
        self.env["PYTHONUNBUFFERED"] = "1"
        self._launches = 0

    # -- config --------------------------------------------------------------------------

    def supervisord_section(self, **overrides: Any) -> dict[str, Any]:
        section: dict[str, Any] = {
            "socket": "sdl.sock",
            "pidfile": "sdl.pid",
            "logfile": "sdl.log",
            "log_dir": "logs",
            "loglevel": "debug",
        }
        section.update(overrides)
        return section

    def write_config(
        self,
        programs: dict[str, dict[str, Any]] | str,
        supervisord: dict[str, Any] | None = None,
        groups: dict[str, dict[str, Any]] | None = None,
    ) -> Path:
        """Write the config: a dict of program tables (or raw TOML for [programs.*] tables),
        and [groups.*] tables if given."""
        head = to_toml({"supervisord": self.supervisord_section(**(supervisord or {}))})
        if isinstance(programs, str):
            body = programs
        else:
            body = to_toml({f"programs.{name}": keys for name, keys in programs.items()})
        if groups:
            body += "\n" + to_toml({f"groups.{name}": keys for name, keys in groups.items()})
        self.config.write_text(head + "\n" + body)
        return self.config

    def path(self, name: Any) -> Path:
        return self.dir / str(name)

    # -- running things --------------------------------------------------------------------

    def launch(self, *extra: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run the daemon launcher (detaching by default); output goes to files, not pipes.

        Files, because a buggy detached daemon holding an inherited pipe open would make
        the launcher look hung.
        """
        self._launches += 1
        out = self.dir / f"launch{self._launches}.out"
        err = self.dir / f"launch{self._launches}.err"
        cmd = [*DAEMON_CMD, "-c", str(self.config), *extra]
        with open(out, "wb") as fo, open(err, "wb") as fe:
            rc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, env=self.env, timeout=timeout
            ).returncode
        result = subprocess.CompletedProcess(
            cmd, rc, out.read_text(errors="replace"), err.read_text(errors="replace")
        )
        self._remember_daemon()
        return result

    def start(
        self,
        programs: dict[str, dict[str, Any]] | str | None = None,
        launch_timeout: float = 30.0,
        groups: dict[str, dict[str, Any]] | None = None,
        **sup: Any,
    ) -> int:
        """Write the config (if given), launch the daemon, assert it came up; return its pid."""
        if programs is not None:
            self.write_config(programs, sup or None, groups)
        try:
            res = self.launch(timeout=launch_timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"daemon launcher did not return within {launch_timeout}s (never ready?)\n"
                f"log:\n{self.log_tail()}"
            ) from exc
        assert res.returncode == 0, (
            f"daemon launch failed: rc={res.returncode}\nstdout:\n{res.stdout}\n"
            f"stderr:\n{res.stderr}\nlog:\n{self.log_tail()}"
        )
        assert self.pidfile.exists(), "daemon reported ready but wrote no pidfile"
        assert self.socket.exists(), "daemon reported ready but has no socket"
        return self.pid

    def ctl(self, *args: Any, timeout: float = 30.0) -> subprocess.CompletedProcess:
        cmd = [*CTL_CMD, "-c", str(self.config), *(str(a) for a in args)]
        return subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )

    def ctl_ok(self, *args: Any, timeout: float = 30.0) -> subprocess.CompletedProcess:
        res = self.ctl(*args, timeout=timeout)
        assert res.returncode == 0, self.describe(res)
        return res

    @contextlib.contextmanager
    def ctl_in_background(self, *args: Any) -> Iterator[subprocess.Popen]:
        """A ctl command left running while the test does something else (text output
        on stdout, stderr merged, read with communicate()); killed if it has not
        finished when the block ends."""
        proc = subprocess.Popen(
            [*CTL_CMD, "-c", str(self.config), *(str(a) for a in args)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()

    def describe(self, res: subprocess.CompletedProcess) -> str:
        return (
            f"{' '.join(map(str, res.args))} -> rc={res.returncode}\n"
            f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}"
        )

    def status(self, *names: str) -> dict[str, dict[str, Any]]:
        """`status --json` as {process name: object}."""
        res = self.ctl("status", "--json", *names)
        assert res.returncode in (0, 3), self.describe(res)
        try:
            items = json.loads(res.stdout)
        except ValueError as exc:
            raise AssertionError(f"status --json is not JSON: {exc}\n{self.describe(res)}") from exc
        assert isinstance(items, list), f"status --json is not an array: {items!r}"
        for item in items:
            if item.get("pid"):
                self.known_pids.add(int(item["pid"]))
        return {item["name"]: item for item in items}

    def state(self, name: str) -> str:
        return self.status(name)[name]["state"]

    def wait_state(self, name: str, *states: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until process `name` is in one of `states`; return its status object."""
        seen: list[Any] = []

        def check() -> Any:
            obj = self.status(name)[name]
            if not seen or seen[-1] != obj["state"]:
                seen.append(obj["state"])
            return obj if obj["state"] in states else None

        return wait_until(
            check, timeout, message=lambda: f"{name} to reach {states} (states seen: {seen})"
        )

    @property
    def pid(self) -> int:
        return int(self.pidfile.read_text().split()[0])

    def log_path(self, process: str, stream: str = "stdout") -> Path:
        return self.log_dir / f"{process}.{stream}.log"

    def read_log(self, process: str, stream: str = "stdout") -> str:
        path = self.log_path(process, stream)
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, n: int = 60) -> str:
        if not self.logfile.exists():
            return "(no daemon log)"
        return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0, **kw: Any) -> Any:
        return wait_until(predicate, timeout, **kw)

    # -- teardown -------------------------------------------------------------------------

    def _remember_daemon(self) -> None:
        try:
            self.known_pids.add(self.pid)
        except (OSError, ValueError, IndexError):
            pass

    def processes(self) -> list[psutil.Process]:
        """Every live process that belongs to this test (the daemon, its tree, strays)."""
        self._remember_daemon()
        found: dict[int, psutil.Process] = {}
        me = os.getpid()
        my_sid = os.getsid(0)
        for pid in list(self.known_pids):
            try:
                p = psutil.Process(pid)
                if _environ(p).get("SDL_TEST_TAG") == self.tag:
                    found[pid] = p
                    for c in p.children(recursive=True):
                        found[c.pid] = c
            except psutil.Error:
                pass
        for p in psutil.process_iter():
            if p.pid in (me, 1):
                continue
            try:
                if _environ(p).get("SDL_TEST_TAG") == self.tag:
                    found[p.pid] = p
                    continue
                if any(self.tag in part for part in p.cmdline()):
                    found[p.pid] = p
                    continue
                cwd = p.cwd()
                if cwd == self.tag or cwd.startswith(self.tag + os.sep):
                    found[p.pid] = p
            except (psutil.Error, OSError):
                pass
        # Processes that dropped their environment (nginx workers) share a session with
        # one that did not: take whole sessions, never our own.
        sids = set()
        for p in found.values():
            try:
                sid = os.getsid(p.pid)
            except OSError:
                continue
            if sid not in (my_sid, 0, 1):
                sids.add(sid)
        if sids:
            for p in psutil.process_iter():
                if p.pid in (me, 1) or p.pid in found:
                    continue
                try:
                    if os.getsid(p.pid) in sids:
                        found[p.pid] = p
                except OSError:
                    pass
        found.pop(me, None)
        return list(found.values())

    def kill_everything(self) -> list[str]:
        """SIGKILL the daemon first (so it cannot respawn), then everything else of ours."""
        killed: list[str] = []
        for _ in range(10):
            procs = self.processes()
            if not procs:
                break
            for p in procs:
                try:
                    killed.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
                    p.send_signal(signal.SIGKILL)
                except psutil.Error:
                    pass
            _wait_dead(procs, timeout=5)
        return killed

    def teardown(self) -> None:
        try:
            self.kill_everything()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _wait_dead(procs: list[psutil.Process], timeout: float) -> None:
    """Until each is gone or a zombie. Not psutil.wait_procs: for a process that is not
    our child it waits until the reaper (often a busy PID 1 here) has collected it,
    about a second per test; a zombie runs nothing and holds nothing of a test's."""
    deadline = time.monotonic() + timeout
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        still = []
        for p in alive:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    still.append(p)
            except psutil.Error:
                pass  # gone
        alive = still
        if alive:
            time.sleep(0.01)


def session_processes() -> list[psutil.Process]:
    me = os.getpid()
    out = []
    for p in psutil.process_iter():
        if p.pid == me:
            continue
        if _environ(p).get("SDL_TEST_SESSION") == SESSION_TOKEN:
            out.append(p)
    return out


# ---------------------------------------------------------------------------- faults


def mount_tmpfs(daemon: Daemon, name: str, size: str = "256k") -> tuple[Path, Callable[[], None]]:
    """A small tmpfs at the daemon's dir/`name`, for full-disk tests (needs root and
    mount; the test skips elsewhere). Returns the path and its clean-up, which kills the
    daemon's tree first so that nothing holds the mount."""
    path = daemon.path(name)
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")

    def unmount() -> None:
        daemon.kill_everything()
        subprocess.run(["umount", "-l", str(path)])

    return path, unmount


@contextlib.contextmanager
def small_disk(daemon: Daemon, name: str, size: str = "256k") -> Iterator[Path]:
    """mount_tmpfs as a context manager: unmounted however the test ends."""
    path, unmount = mount_tmpfs(daemon, name, size)
    try:
        yield path
    finally:
        unmount()


@contextlib.contextmanager
def foreground_daemon(daemon: Daemon, stdout: Any, stderr: Any) -> Iterator[subprocess.Popen]:
    """`supervisord-lite -n` on the daemon's config with the given stdout/stderr,
    stopped with SIGTERM (then SIGKILL) however the test ends."""
    proc = subprocess.Popen(
        [*DAEMON_CMD, "-c", str(daemon.config), "-n"],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=daemon.env,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
