"""The two managers behind one small interface: write a config, launch, query, clean up.

supervisord is driven over XML-RPC on its Unix socket (one persistent connection, as
supervisorctl does); supervisord_lite over its JSON-lines socket directly.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import kill_tree, wait_for

BIN = Path(sys.executable).parent
RUNNING = "RUNNING"


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]
    autostart: bool = True
    autorestart: bool = True
    startsecs: float = 0
    maxbytes: int = 50 * 1024 * 1024
    backups: int = 10
    backoff_max: float | None = None  # supervisord_lite only
    backoff_reset: float | None = None  # supervisord_lite only
    stopwaitsecs: float = 10
    # More supervisord_lite program keys, as (key, value) pairs (the dataclass is frozen).
    lite_keys: tuple = ()


def sleepers(n: int, seconds: int = 100000) -> list[Program]:
    return [Program(f"p{i:04d}", ["sleep", str(seconds)]) for i in range(n)]


# A line to each stream, then sleep: both log files of every program get opened (a
# daemon may open a log file only at its first byte, so silent sleepers hide them).
TALKER = "echo started; echo started >&2; exec sleep 100000"


def talkers(n: int) -> list[Program]:
    return [Program(f"t{i:04d}", ["sh", "-c", TALKER]) for i in range(n)]


class Manager:
    """One daemon in its own short temp dir (AF_UNIX paths must stay < 108 bytes)."""

    label = ""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sdlb-"))
        self.logdir = self.dir / "logs"
        self.logdir.mkdir()
        self.pid: int | None = None
        self.programs: list[Program] = []
        # RLIMIT_NOFILE (soft = hard) the daemon starts with; None: the benchmark's own
        self.nofile: int | None = None

    # -- to override ---------------------------------------------------------------
    def write_config(self, programs: list[Program]) -> None:
        raise NotImplementedError

    def launch(self) -> None:
        raise NotImplementedError

    def client(self):
        raise NotImplementedError

    def ctl(self, *args: str) -> list[str]:
        raise NotImplementedError

    def stdout_logs(self, program: str) -> list[str]:
        raise NotImplementedError

    daemon_log: Path

    # -- shared --------------------------------------------------------------------
    def _run_daemon(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run the daemon's start command, with this manager's descriptor limit if set
        (both daemons raise their soft limit toward the hard one: soft = hard pins it)."""
        limit = self.nofile

        def set_limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=set_limit if limit is not None else None,
        )

    def _read_pid(self, pidfile: Path) -> int:
        def read() -> int | None:
            try:
                text = pidfile.read_text().strip()
                return int(text) if text else None
            except (OSError, ValueError):
                return None

        return wait_for(read, timeout=30, what=f"pidfile {pidfile}")

    def wait_all_running(self, client, n: int, timeout: float = 120, interval: float = 0.02):
        def done() -> bool:
            states = client.states()
            return len(states) == n and all(s == RUNNING for _, s, _ in states)

        wait_for(done, timeout=timeout, interval=interval, what=f"{self.label}: {n} RUNNING")

    def launch_sleepers(self, n: int, timeout: float = 120, interval: float = 0.02) -> None:
        """Write a config of n sleeping programs, launch, and wait until all are RUNNING
        (then ask one full status, as a user would)."""
        self.launch_programs(sleepers(n), timeout=timeout, interval=interval)

    def launch_programs(self, programs: list[Program], timeout: float = 120, interval=0.02):
        """launch_sleepers for any list of programs."""
        self.write_config(programs)
        self.launch()
        client = self.client()
        try:
            self.wait_all_running(client, len(programs), timeout=timeout, interval=interval)
            client.status()
        finally:
            client.close()

    def wait_logs_written(self, files: int, timeout: float = 120) -> None:
        """Until `files` non-empty files are in the programs' log directory."""

        def written() -> bool:
            count = 0
            for entry in os.scandir(self.logdir):
                try:
                    count += entry.stat().st_size > 0
                except OSError:
                    pass
            return count >= files

        wait_for(written, timeout=timeout, interval=0.1, what=f"{self.label}: {files} logs")

    def log_counter(self, marker: bytes) -> LogCounter:
        """Counts `marker` lines in the daemon's own log as they are written."""
        return LogCounter(self.daemon_log, marker)

    def cleanup(self) -> None:
        try:
            kill_tree(self.pid)
        finally:
            self.pid = None
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


class LogCounter:
    """Lines holding a marker in a daemon's own log, read incrementally from a kept offset.

    Both daemons write "spawned: 'NAME' with pid N" per spawn and "success: NAME entered
    RUNNING state" per process reaching RUNNING, so counting them detects progress the
    same way for both, without asking either daemon anything (a `status` of 1000
    processes takes supervisord ~2 s, which a status poll would charge to spawning).
    """

    def __init__(self, path: Path, marker: bytes):
        self.path = path
        self.marker = marker
        self.offset = 0
        self.partial = b""
        self.count = 0

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return self.count  # not created yet
        self.offset += len(data)
        data = self.partial + data
        end = data.rfind(b"\n") + 1  # count whole lines only; keep the rest for later
        self.partial = data[end:]
        self.count += data.count(self.marker, 0, end)
        return self.count


# ------------------------------------------------------------------ supervisord_lite


class LiteClient:
    """One JSON-lines connection to supervisord_lite (SPEC §4)."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = bytearray()  # appended in place: a 10,000-process reply is ~5 MB
        self.next_id = 0

    def call(self, cmd: str, args: dict | None = None):
        self.next_id += 1
        line = {"id": self.next_id, "cmd": cmd, "args": args or {}}
        self.sock.sendall(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        scanned = 0  # bytes of buf already searched for the end of the line
        while True:
            nl = self.buf.find(b"\n", scanned)
            if nl >= 0:
                reply = self.buf[:nl]  # json.loads takes a bytearray as it is
                del self.buf[: nl + 1]
                scanned = 0
                msg = json.loads(reply)
                if msg.get("id") != self.next_id:
                    continue
                if not msg.get("ok"):
                    raise RuntimeError(f"{cmd}: {msg.get('error')}")
                return msg["result"]
            scanned = len(self.buf)
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("supervisord_lite closed the connection")
            self.buf += data

    def status(self):
        """What getAllProcessInfo gives and the ctl's text `status` asks: the states,
        without the trees' CPU and memory figures (figures(): those of `status --json`)."""
        return self.call("status", {"figures": False})

    def figures(self):
        """`status` with every tree's CPU, memory and threads (the protocol's default)."""
        return self.call("status")

    def states(self) -> list[tuple[str, str, int | None]]:
        return [(p["name"], p["state"], p["pid"]) for p in self.status()]

    def start(self, name: str) -> None:
        self.call("start", {"names": [name]})

    def start_all(self) -> None:
        self.call("start", {"names": ["all"]})

    def stop_all(self) -> None:
        self.call("stop", {"names": ["all"]})

    def close(self) -> None:
        self.sock.close()


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. limits = { nofile = 1024 }
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


class Lite(Manager):
    label = "supervisord_lite"

    def __init__(self) -> None:
        super().__init__()
        self.config = self.dir / "l.toml"
        self.socket = str(self.dir / "l.sock")
        self.pidfile = self.dir / "l.pid"
        self.daemon_log = self.dir / "l.log"

    def write_config(self, programs: list[Program]) -> None:
        self.programs = programs
        out = [
            "[supervisord]",
            f"socket = {_toml(self.socket)}",
            f"pidfile = {_toml(str(self.pidfile))}",
            f"logfile = {_toml(str(self.daemon_log))}",
            f"log_dir = {_toml(str(self.logdir))}",
            'loglevel = "info"',
            "",
        ]
        for p in programs:
            keys = {
                "command": p.command,
                "autostart": p.autostart,
                "autorestart": p.autorestart,
                "startsecs": p.startsecs,
                "stopwaitsecs": p.stopwaitsecs,
                "stdout_logfile": "auto",
                "stderr_logfile": "auto",
                "stdout_logfile_maxbytes": p.maxbytes,
                "stdout_logfile_backups": p.backups,
            }
            if p.backoff_max is not None:
                keys["backoff_max"] = p.backoff_max
            if p.backoff_reset is not None:
                keys["backoff_reset"] = p.backoff_reset
            keys.update(p.lite_keys)
            out.append(f"[programs.{p.name}]")
            out.extend(f"{k} = {_toml(v)}" for k, v in keys.items())
            out.append("")
        self.config.write_text("\n".join(out))

    def launch(self) -> None:
        """Returns when the daemon says it is ready (SPEC §1: autostart programs spawned)."""
        proc = self._run_daemon([str(BIN / "supervisord-lite"), "-c", str(self.config)], 300)
        if proc.returncode != 0:
            raise RuntimeError(f"supervisord-lite failed: {proc.stderr.strip()}")
        self.pid = self._read_pid(self.pidfile)

    def client(self) -> LiteClient:
        return LiteClient(self.socket)

    def ctl(self, *args: str) -> list[str]:
        return [str(BIN / "supervisorctl-lite"), "-c", str(self.config), *args]

    def stdout_logs(self, program: str) -> list[str]:
        return glob.glob(str(self.logdir / f"{program}*stdout*"))


# ------------------------------------------------------------------------ supervisord


def supervisor_available() -> bool:
    try:
        import supervisor  # noqa: F401
    except ImportError:
        return False
    return (BIN / "supervisord").exists()


class SupervisordClient:
    """XML-RPC over one persistent HTTP/1.1 connection on the Unix socket."""

    def __init__(self, path: str):
        import xmlrpc.client

        from supervisor.xmlrpc import SupervisorTransport

        self.transport = SupervisorTransport(None, None, serverurl="unix://" + path)
        self.proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=self.transport)
        self.rpc = self.proxy.supervisor

    def status(self):
        return self.rpc.getAllProcessInfo()

    def states(self) -> list[tuple[str, str, int | None]]:
        return [(p["name"], p["statename"], p["pid"] or None) for p in self.status()]

    def start(self, name: str) -> None:
        self.rpc.startProcess(name, True)

    def start_all(self) -> None:
        self.rpc.startAllProcesses(True)

    def stop_all(self) -> None:
        self.rpc.stopAllProcesses(True)

    def close(self) -> None:
        self.transport.close()


class Supervisord(Manager):
    label = "supervisord"

    def __init__(self) -> None:
        super().__init__()
        self.config = self.dir / "s.conf"
        self.socket = str(self.dir / "s.sock")
        self.pidfile = self.dir / "s.pid"
        self.daemon_log = self.dir / "s.log"

    def write_config(self, programs: list[Program]) -> None:
        self.programs = programs
        out = [
            "[unix_http_server]",
            f"file={self.socket}",
            "chmod=0700",
            "",
            "[supervisord]",
            "nodaemon=false",
            f"pidfile={self.pidfile}",
            f"logfile={self.daemon_log}",
            "logfile_maxbytes=0",
            "loglevel=info",
            f"childlogdir={self.logdir}",
            # supervisord refuses to start below minfds; a pinned limit lowers it to fit
            f"minfds={min(1024, self.nofile or 1024)}",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{self.socket}",
            "",
        ]
        for p in programs:
            out += [
                f"[program:{p.name}]",
                "command=" + shlex.join(p.command).replace("%", "%%"),
                f"autostart={str(p.autostart).lower()}",
                f"autorestart={str(p.autorestart).lower()}",
                f"startsecs={p.startsecs:g}",
                f"stopwaitsecs={p.stopwaitsecs:g}",
                "stdout_logfile=AUTO",
                "stderr_logfile=AUTO",
                f"stdout_logfile_maxbytes={p.maxbytes}",
                f"stdout_logfile_backups={p.backups}",
                "",
            ]
        self.config.write_text("\n".join(out))

    def launch(self) -> None:
        """supervisord detaches at once; wait for its pidfile and an answering socket."""
        proc = self._run_daemon([str(BIN / "supervisord"), "-c", str(self.config)], 120)
        if proc.returncode != 0:
            raise RuntimeError(f"supervisord failed: {proc.stderr.strip()}")
        self.pid = self._read_pid(self.pidfile)

        def answers() -> bool:
            try:
                c = self.client()
                c.rpc.getState()
                c.close()
                return True
            except OSError:
                return False

        wait_for(answers, timeout=60, interval=0.01, what="supervisord socket")

    def client(self) -> SupervisordClient:
        return SupervisordClient(self.socket)

    def ctl(self, *args: str) -> list[str]:
        return [str(BIN / "supervisorctl"), "-c", str(self.config), *args]

    def stdout_logs(self, program: str) -> list[str]:
        return glob.glob(str(self.logdir / f"{program}-stdout*"))


def managers(settings, repeat: int = 0) -> list[type[Manager]]:
    """The managers to measure, in the order of repeat number `repeat`: the order flips
    from one repeat to the next, so neither always runs first (on a warm or a cold
    page cache, or just after the other's processes died)."""
    kinds: list[type[Manager]] = []
    if settings.with_supervisord:
        kinds.append(Supervisord)
    kinds.append(Lite)
    return kinds if repeat % 2 == 0 else kinds[::-1]


def per_manager(settings, repeats: int, measure) -> dict[str, list]:
    """{label: [measure(kind) for each repeat]}, the managers alternating who goes first."""
    results: dict[str, list] = {kind.label: [] for kind in managers(settings)}
    for repeat in range(repeats):
        for kind in managers(settings, repeat):
            results[kind.label].append(measure(kind))
    return results


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def env_without_session() -> dict:
    return dict(os.environ)
