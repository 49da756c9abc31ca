"""supervisorctl-lite: the control client.

Blocking and small on purpose: its start-up time is a feature (issue 4). It imports
the wire protocol and paths.py, never the config module: it reads only the socket
from the config file. The common command lines are parsed by hand; argparse is built
only for the others (help, usage errors, rarer options), so those behave exactly as
argparse makes them.
"""

from __future__ import annotations

import _socket  # socket.py would add ~3 ms of imports (selectors, enum classes)
import json
import os
import sys
import time

from supervisord_lite import __version__, protocol
from supervisord_lite.paths import DEFAULT_SOCKET, ConfigNotFound, find_config_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_UNREACHABLE = 4


class Unreachable(Exception):
    """The daemon's socket cannot be reached."""


class Connection:
    def __init__(self, path: str):
        self.path = path
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise Unreachable(f"cannot connect to {path}: {exc.strerror}") from None
        self.buf = protocol.LineBuffer(limit=256 * 1024 * 1024)
        self.lines: list[bytes] = []
        self.next_id = 1

    def send(self, cmd: str, args: dict | None = None) -> int:
        req_id = self.next_id
        self.next_id += 1
        self.sock.sendall(protocol.request(req_id, cmd, args))
        return req_id

    def receive(self) -> dict | None:
        """The next reply, or None when the daemon closed the connection."""
        while not self.lines:
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.lines.extend(self.buf.feed(data))
        return protocol.decode_reply(self.lines.pop(0))

    def call(self, cmd: str, args: dict | None = None) -> dict:
        try:
            self.send(cmd, args)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused at once (TOO_MANY_CLIENTS): the reason may be waiting to be read
        reply = self.receive()
        if reply is None:
            raise Unreachable(f"the daemon at {self.path} closed the connection")
        return reply

    def close(self) -> None:
        self.sock.close()


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="supervisorctl-lite", description="Control supervisord-lite."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-c", "--configuration", dest="config", metavar="CONFIG")
    where.add_argument("-s", "--socket", metavar="SOCKET", help="the daemon's socket path")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
        return p

    command("status", "show processes").add_argument("names", nargs="*", metavar="NAME")
    for name, text in (
        ("start", "start processes and wait until RUNNING"),
        ("stop", "stop processes and wait until stopped"),
        ("restart", "stop, then start processes"),
    ):
        command(name, text).add_argument("names", nargs="+", metavar="NAME")
    p = command("signal", "send a signal to processes")
    p.add_argument("signal", metavar="SIG")
    p.add_argument("names", nargs="+", metavar="NAME")
    command("pid", "the daemon's pid, or a process's").add_argument("name", nargs="?")
    p = command("tail", "the last lines of a process log")
    p.add_argument("-f", dest="follow", action="store_true", help="follow")
    p.add_argument("-n", dest="lines", type=int, default=10, metavar="LINES")
    p.add_argument("name", metavar="NAME")
    p.add_argument("stream", nargs="?", default="stdout", choices=("stdout", "stderr"))
    command("reload", "re-read the config and apply the difference")
    command("events", "stream state changes as JSON lines")
    command("shutdown", "stop every program and the daemon")
    command("version", "versions of client and daemon")
    return parser


class Args:
    """What parse_args returns: the attributes argparse's Namespace would have."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return f"Args({self.__dict__!r})"


# Positional-argument counts (min, max) the fast path accepts, per command.
_POSITIONALS = {
    "status": (0, None),
    "start": (1, None),
    "stop": (1, None),
    "restart": (1, None),
    "signal": (2, None),
    "pid": (0, 1),
    "tail": (1, 2),
    "reload": (0, 0),
    "events": (0, 0),
    "shutdown": (0, 0),
    "version": (0, 0),
}


def fast_parse(argv: list[str]) -> Args | None:
    """The common command lines, parsed without argparse (whose import and parser
    building cost ~10 ms): [-c X | -s X] [--json] COMMAND [--json] [WORD ...].
    Returns None for anything else (help, options it does not know, a count of names
    argparse would refuse...), which argparse then parses: same result, same errors."""
    config = sock = None
    as_json = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-c", "--configuration", "-s", "--socket"):
            if config is not None or sock is not None or i + 1 == len(argv):
                return None
            value = argv[i + 1]
            if not value or value[0] == "-":
                return None
            if arg in ("-c", "--configuration"):
                config = value
            else:
                sock = value
            i += 2
        elif arg == "--json" and not as_json:
            as_json = True
            i += 1
        else:
            break
    else:
        return None  # no command
    command = argv[i]
    if command not in _POSITIONALS:
        return None
    words = []
    for arg in argv[i + 1 :]:
        if arg == "--json":
            as_json = True
        elif arg[:1] == "-":
            return None
        else:
            words.append(arg)
    low, high = _POSITIONALS[command]
    if len(words) < low or (high is not None and len(words) > high):
        return None
    args = Args(config=config, socket=sock, json=as_json, command=command)
    if command == "signal":
        args.signal, args.names = words[0], words[1:]
    elif command == "pid":
        args.name = words[0] if words else None
    elif command == "tail":
        stream = words[1] if len(words) > 1 else "stdout"
        if stream not in ("stdout", "stderr"):
            return None
        args.follow, args.lines, args.name, args.stream = False, 10, words[0], stream
    elif command in ("status", "start", "stop", "restart"):
        args.names = words
    return args


def parse_args(argv: list[str] | None = None):
    if argv is None:
        argv = sys.argv[1:]
    return fast_parse(argv) or build_parser().parse_args(argv)


_PROGRAMS_HEADER = r"""(?m)^[ \t]*\[[ \t]*["']?programs"""
_SUPERVISORD_HEADER = r"""\[\s*(["']?)supervisord\1\s*\]\s*(#.*)?$"""
_SOCKET_LINE = r"""(["']?)socket\1\s*=\s*(?:"([^"\\]*)"|'([^']*)')\s*(#.*)?$"""
_SOCKET_OR_TABLE_KEY = r"""["']?(?:socket|supervisord)\b"""


def _plain_socket(head: str, rest: str) -> str | None:
    """The [supervisord] socket, read from the simple lines nearly every config has
    (`socket = "..."` with no escapes, in a `[supervisord]` table), without tomllib,
    whose import costs ~9 ms. None when the text is not that plain (multi-line strings,
    dotted or inline-table keys, several socket lines, [supervisord] below the programs):
    then tomllib decides. Lenient like socket_path: it does not check the rest."""
    import re

    if '"""' in head or "'''" in head:
        return None
    in_supervisord = False
    found = []
    for line in head.splitlines():
        line = line.strip()
        if not line or line[0] == "#":
            continue
        if line[0] == "[":
            in_supervisord = re.match(_SUPERVISORD_HEADER, line) is not None
            continue
        m = re.match(_SOCKET_LINE, line) if in_supervisord else None
        if m is not None:
            found.append(m.group(2) if m.group(2) is not None else m.group(3))
        elif re.match(_SOCKET_OR_TABLE_KEY, line):
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
            raise Unreachable(f"cannot read {path} to find the socket: {exc}") from None
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
        raise Unreachable(str(exc)) from None
    try:
        with open(path, "rb") as f:
            text = f.read().decode()
    except (OSError, ValueError) as exc:
        raise Unreachable(f"cannot read {path} to find the socket: {exc}") from None
    import re

    match = re.search(_PROGRAMS_HEADER, text)
    cut = len(text) if match is None else match.start()
    socket_value = _plain_socket(text[:cut], text[cut:])
    if socket_value is None:
        socket_value = _tomllib_socket(path, text, cut)
    if not isinstance(socket_value, str):
        socket_value = DEFAULT_SOCKET
    return os.path.join(os.path.dirname(os.path.abspath(path)), socket_value)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        path = socket_path(args)
        conn = Connection(path)
    except Unreachable as exc:
        print(f"supervisorctl-lite: {exc}\n{unreachable_hint(args)}", file=sys.stderr)
        _json_error(args, UNREACHABLE, str(exc))
        return EXIT_UNREACHABLE
    try:
        return COMMANDS[args.command](conn, args)
    except CommandFailed as exc:
        return exc.exit_code
    except Unreachable as exc:
        print(f"supervisorctl-lite: {exc}", file=sys.stderr)
        _json_error(args, UNREACHABLE, str(exc))
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_OK if args.command in ("events", "tail") else EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
    finally:
        conn.close()


# The ctl's own error code, for --json: the daemon's socket could not be reached.
UNREACHABLE = "UNREACHABLE"


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


def _json_error(args, code: str, message: str) -> None:
    """With --json, a failure is also an object on stdout: scripts read stdout."""
    if getattr(args, "json", False):  # one line: tail -f and events print JSON lines
        print(json.dumps({"code": code, "message": message}), flush=True)


# -- commands ---------------------------------------------------------------------


class CommandFailed(Exception):
    """The daemon answered with an error; already told to the user."""

    def __init__(self, exit_code: int):
        super().__init__(exit_code)
        self.exit_code = exit_code


def _result(reply: dict, args, exit_code: int = EXIT_FAILED):
    """The reply's result, or: print its error and fail the command with exit_code."""
    if reply["ok"]:
        return reply["result"]
    err = reply.get("error") or {}
    code, text = err.get("code", "?"), err.get("message", "")
    print(f"supervisorctl-lite: ERROR ({code}): {text}", file=sys.stderr)
    _json_error(args, code, text)
    raise CommandFailed(exit_code)


def _print_json(value) -> None:
    print(json.dumps(value, indent=2))


def cmd_status(conn: Connection, args) -> int:
    processes = _result(conn.call("status", {"names": args.names}), args, EXIT_NOT_RUNNING)
    if args.json:
        _print_json(processes)
    else:
        width = max([len(p["name"]) for p in processes] + [30]) + 3
        for p in processes:
            print(f"{p['name']:<{width}}{p['state']:<10} {p['description']}".rstrip())
    all_running = all(p["state"] == "RUNNING" for p in processes)
    return EXIT_OK if all_running else EXIT_NOT_RUNNING


def _per_process(conn: Connection, args, cmd: str, extra: dict | None = None) -> int:
    results = _result(conn.call(cmd, {"names": args.names, **(extra or {})}), args)
    if args.json:
        _print_json(results)
    else:
        for r in results:
            text = r["message"] if r["ok"] else f"ERROR ({r['message']})"
            print(f"{r['name']}: {text}")
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAILED


def cmd_start(conn, args) -> int:
    return _per_process(conn, args, "start")


def cmd_stop(conn, args) -> int:
    return _per_process(conn, args, "stop")


def cmd_restart(conn, args) -> int:
    return _per_process(conn, args, "restart")


def cmd_signal(conn, args) -> int:
    sig = int(args.signal) if args.signal.isdigit() else args.signal
    return _per_process(conn, args, "signal", {"signal": sig})


def cmd_pid(conn, args) -> int:
    pid = _result(conn.call("pid", {"name": args.name} if args.name else {}), args)
    if args.json:
        _print_json(pid)
    else:
        print(pid or 0)
    return EXIT_OK if pid else EXIT_FAILED


def cmd_tail(conn, args) -> int:
    request = {"name": args.name, "stream": args.stream, "lines": max(0, args.lines)}
    if args.follow:
        request["follow"] = True
    req_id = conn.send("tail", request)
    out = sys.stdout
    while True:
        reply = conn.receive()
        if reply is None:
            return EXIT_OK if args.follow else EXIT_FAILED
        if reply.get("id") != req_id:
            continue
        result = _result(reply, args)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            out.write(result.get("data", ""))
            out.flush()
        if not args.follow:
            return EXIT_OK


def cmd_reload(conn, args) -> int:
    result = _result(conn.call("reload"), args)
    if args.json:
        _print_json(result)
    else:
        for key in ("added", "changed", "removed"):
            names = result.get(key) or []
            print(f"{key}: {', '.join(names) if names else '-'}")
    return EXIT_OK


def cmd_events(conn, args) -> int:
    conn.send("events")
    while True:
        reply = conn.receive()
        if reply is None:
            return EXIT_OK
        result = _result(reply, args)
        if "subscribed" in result:
            continue
        print(json.dumps(result), flush=True)


def cmd_shutdown(conn, args) -> int:
    _result(conn.call("shutdown"), args)
    # The daemon replies when every program has stopped; wait for it to go away too.
    conn.sock.settimeout(10)
    try:
        while conn.sock.recv(4096):
            pass
    except OSError:
        pass
    deadline = time.monotonic() + 5
    while os.path.exists(conn.path) and time.monotonic() < deadline:
        time.sleep(0.01)
    if args.json:
        _print_json({"shutdown": True})
    else:
        print("Shut down")
    return EXIT_OK


def cmd_version(conn, args) -> int:
    reply = conn.call("version")
    daemon = reply["result"]["daemon"] if reply["ok"] else "unknown"
    if args.json:
        _print_json({"client": __version__, "daemon": daemon})
    else:
        print(f"supervisorctl-lite {__version__}")
        print(f"supervisord-lite {daemon}")
    return EXIT_OK


COMMANDS = {
    "status": cmd_status,
    "start": cmd_start,
    "stop": cmd_stop,
    "restart": cmd_restart,
    "signal": cmd_signal,
    "pid": cmd_pid,
    "tail": cmd_tail,
    "reload": cmd_reload,
    "events": cmd_events,
    "shutdown": cmd_shutdown,
    "version": cmd_version,
}

if __name__ == "__main__":
    raise SystemExit(main())
