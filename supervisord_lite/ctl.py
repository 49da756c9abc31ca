"""supervisorctl-lite: the control client.

Blocking and small on purpose: it imports the wire protocol, and the config module only
when it must find the socket from a config file (its start-up time is a feature).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

from supervisord_lite import __version__, protocol

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_UNREACHABLE = 4
DEFAULT_SOCKET = "supervisord_lite.sock"  # as config.py's default


class Unreachable(Exception):
    """The daemon's socket cannot be reached."""


class Connection:
    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
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
        self.send(cmd, args)
        reply = self.receive()
        if reply is None:
            raise Unreachable(f"the daemon at {self.path} closed the connection")
        return reply

    def close(self) -> None:
        self.sock.close()


def build_parser() -> argparse.ArgumentParser:
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


def socket_path(args: argparse.Namespace) -> str:
    """-s, else the config's socket. Lenient on purpose: a config with mistakes in its
    programs must not stop the ctl from reaching the daemon (to reload a fixed one)."""
    if args.socket:
        return args.socket
    from supervisord_lite.config import ConfigError, find_config_path

    try:
        path = find_config_path(args.config)
    except ConfigError as exc:
        raise Unreachable(str(exc)) from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except (OSError, ValueError) as exc:
        raise Unreachable(f"cannot read {path} to find the socket: {exc}") from None
    section = document.get("supervisord")
    socket_value = section.get("socket") if isinstance(section, dict) else None
    if not isinstance(socket_value, str):
        socket_value = DEFAULT_SOCKET
    return os.path.join(os.path.dirname(os.path.abspath(path)), socket_value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = socket_path(args)
        conn = Connection(path)
    except Unreachable as exc:
        hint = "Is the daemon running? Start it with: supervisord-lite"
        if args.config:
            hint += f" -c {args.config}"
        print(f"supervisorctl-lite: {exc}\n{hint}", file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        return COMMANDS[args.command](conn, args)
    except CommandFailed as exc:
        return exc.exit_code
    except Unreachable as exc:
        print(f"supervisorctl-lite: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_OK if args.command in ("events", "tail") else EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
    finally:
        conn.close()


# -- commands ---------------------------------------------------------------------


class CommandFailed(Exception):
    """The daemon answered with an error; already told to the user."""

    def __init__(self, exit_code: int):
        super().__init__(exit_code)
        self.exit_code = exit_code


def _result(reply: dict, exit_code: int = EXIT_FAILED):
    """The reply's result, or: print its error and fail the command with exit_code."""
    if reply["ok"]:
        return reply["result"]
    err = reply.get("error") or {}
    message = f"ERROR ({err.get('code', '?')}): {err.get('message', '')}"
    print(f"supervisorctl-lite: {message}", file=sys.stderr)
    raise CommandFailed(exit_code)


def _print_json(value) -> None:
    print(json.dumps(value, indent=2))


def cmd_status(conn: Connection, args) -> int:
    processes = _result(conn.call("status", {"names": args.names}), EXIT_NOT_RUNNING)
    if args.json:
        _print_json(processes)
    else:
        width = max([len(p["name"]) for p in processes] + [30]) + 3
        for p in processes:
            print(f"{p['name']:<{width}}{p['state']:<10} {p['description']}".rstrip())
    all_running = all(p["state"] == "RUNNING" for p in processes)
    return EXIT_OK if all_running else EXIT_NOT_RUNNING


def _per_process(conn: Connection, args, cmd: str, extra: dict | None = None) -> int:
    results = _result(conn.call(cmd, {"names": args.names, **(extra or {})}))
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
    pid = _result(conn.call("pid", {"name": args.name} if args.name else {}))
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
        result = _result(reply)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            out.write(result.get("data", ""))
            out.flush()
        if not args.follow:
            return EXIT_OK


def cmd_reload(conn, args) -> int:
    result = _result(conn.call("reload"))
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
        result = _result(reply)
        if "subscribed" in result:
            continue
        print(json.dumps(result), flush=True)


def cmd_shutdown(conn, args) -> int:
    _result(conn.call("shutdown"))
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
