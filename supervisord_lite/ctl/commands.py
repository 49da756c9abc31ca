"""The ctl's commands: one cmd_<name> per command, sending its request and printing
the reply as text or, with --json, as JSON; the exit codes they return; and `run`, one
command on a connection (for the command line, the shell and each -H worker).

It must not parse the command line or find the socket (parse.py, client.py),
nor import anything beyond what main.py already needs: the ctl's start-up time is a feature.
"""

from __future__ import annotations

import sys
import time

from supervisord_lite import __version__
from supervisord_lite.base.progress import Progress
from supervisord_lite.ctl.client import UNREACHABLE, Connection, Unreachable
from supervisord_lite.ctl.fg import cmd_fg
from supervisord_lite.ctl.group_words import GROUP_WORDS
from supervisord_lite.ctl.replies import (  # noqa: F401 - EXIT_USAGE: main, shell, -H take it here
    EXIT_FAILED,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandFailed,
    json_error,
)
from supervisord_lite.ctl.replies import json_line as _json_line
from supervisord_lite.ctl.replies import print_json as _print_json
from supervisord_lite.ctl.replies import result as _result


def cmd_status(conn: Connection, args) -> int:
    # The text shows no tree figures (CPU, memory): it does not make the daemon read them.
    request = {"names": args.names} if args.json else {"names": args.names, "figures": False}
    processes = _result(conn.call("status", request), args, EXIT_NOT_RUNNING)
    if args.json:
        _print_json(processes)
    else:
        width = max([len(p["name"]) for p in processes] + [30]) + 3
        # One write, not a print per row: 10,000 prints were a sixth of the command.
        rows = [
            # A process a rolling restart replaced, on its way out (restart --rolling).
            f"{p['name']:<{width}}{p['state']:<10} "
            f"{'(retiring) ' if p.get('retiring') else ''}{p['description']}".rstrip()
            for p in processes
        ]
        if rows:
            sys.stdout.write("\n".join(rows) + "\n")
    # Retiring ones are leaving: their replacements stand for them.
    # A oneshot that completed is where it should be, as systemd's active oneshot.
    all_running = all(
        p["state"] == "RUNNING" or p.get("completed") is True
        for p in processes
        if not p.get("retiring")
    )
    return EXIT_OK if all_running else EXIT_NOT_RUNNING


def _per_process(conn: Connection, args, cmd: str, extra: dict | None = None) -> int:
    waiting = Waiting(conn, cmd, args.names) if cmd in Waiting.GOALS else None
    try:
        reply = conn.call(cmd, {"names": args.names, **(extra or {})})
    finally:
        if waiting is not None:
            waiting.done()
    results = _result(reply, args)
    if args.json:
        _print_json(results)
    else:
        for r in results:
            text = r["message"] if r["ok"] else f"ERROR ({r['message']})"
            print(f"{r['name']}: {text}")
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAILED


class Waiting:
    """While a start, stop or restart waits (startsecs, a readiness probe, stopwaitsecs),
    a line on a terminal's stderr saying for which process, in which state, and for how
    long: the status of the named processes, asked once a second on the same
    connection. Nothing at all when stderr is not a terminal."""

    GOALS = {"start": ("starting", "RUNNING"), "restart": ("restarting", "RUNNING"),
             "stop": ("stopping", None)}  # fmt: skip
    AT_REST = ("STOPPED", "EXITED", "FATAL")

    def __init__(self, conn: Connection, cmd: str, names: list[str]):
        self.conn = conn
        self.verb, self.goal = self.GOALS[cmd]
        self.names = names
        self.progress = Progress()
        self.asked = 0.0
        self.pending = False
        if self.progress.enabled:
            self.progress.text = f"{self.verb} {', '.join(names)}"
            conn.on_tick = self.tick

    def tick(self) -> None:
        now = time.monotonic()
        if not self.pending and now - self.asked >= 1.0:
            self.asked, self.pending = now, True
            request = {"names": self.names, "figures": False}
            self.conn.send("status", request, on_reply=self.status)
        self.progress.tick()

    def status(self, reply: dict) -> None:
        self.pending = False
        if not reply.get("ok"):
            return
        for p in reply["result"]:
            done = p["state"] == self.goal if self.goal else p["state"] in self.AT_REST
            if not done:
                text = f"{self.verb} {p['name']}: {p['state']}"
                if p.get("description"):
                    text += f", {p['description']}"
                self.progress.update(text)
                return

    def done(self) -> None:
        self.conn.on_tick = None
        self.progress.clear()


def cmd_start(conn, args) -> int:
    return _per_process(conn, args, "start")


def cmd_stop(conn, args) -> int:
    return _per_process(conn, args, "stop")


def cmd_restart(conn, args) -> int:
    rolling = getattr(args, "rolling", False)  # the shell's lines may lack it
    return _per_process(conn, args, "restart", {"rolling": True} if rolling else None)


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
    return _print_log(conn, args, "tail", request)


def cmd_maintail(conn, args) -> int:
    return _print_log(conn, args, "maintail", {"lines": max(0, args.lines)})


def _print_log(conn: Connection, args, cmd: str, request: dict) -> int:
    """A log's last lines, and with -f what comes, until the daemon ends the stream."""
    if args.follow:
        request["follow"] = True
    req_id = conn.send(cmd, request)
    out = sys.stdout
    while True:
        reply = conn.receive()
        if reply is None:
            return EXIT_OK if args.follow else EXIT_FAILED
        if reply.get("id") != req_id:
            continue
        conn.streaming = args.follow  # it answered: a quiet log is no silent daemon
        result = _result(reply, args)
        if args.json:
            print(_json_line(result), flush=True)
        else:
            out.write(result.get("data", ""))
            out.flush()
        if not args.follow:
            return EXIT_OK


def cmd_reload(conn, args) -> int:
    dry_run = getattr(args, "dry_run", False)
    result = _result(conn.call("reload", {"dry_run": True} if dry_run else None), args)
    if args.json:
        _print_json(result)
        return EXIT_OK
    keys = result.get("keys") or {}
    for key in ("added", "changed", "scaled", "removed"):
        if key == "scaled" and not result.get(key):
            continue  # only numprocs changed: a line only when there is one
        names = [
            f"{name} ({', '.join(keys[name])})" if keys.get(name) else name
            for name in result.get(key) or []
        ]
        print(f"{key}: {', '.join(names) if names else '-'}")
    if dry_run:
        print("(dry run: nothing applied)")
    return EXIT_OK


def cmd_scale(conn, args) -> int:
    if not args.count.isdigit():
        print(f"supervisorctl-lite: scale: N must be a number >= 0, got {args.count!r}",
              file=sys.stderr)  # fmt: skip
        json_error(args, "BAD_ARGUMENT", "N must be a number >= 0")
        return EXIT_USAGE
    request = {"program": args.program, "numprocs": int(args.count)}
    result = _result(conn.call("scale", request), args)
    if args.json:
        _print_json(result)
    else:
        for item in result["results"]:
            print(f"{item['name']}: {'started' if item['ok'] else 'ERROR ' + item['message']}")
        for name in result["stopped"]:
            print(f"{name}: stopped")
        config = result["numprocs_config"]
        note = "" if config == result["numprocs"] else f" (the config says {config})"
        print(f"{result['program']}: {result['numprocs']} processes{note}")
    return EXIT_OK if all(r["ok"] for r in result["results"]) else EXIT_FAILED


def cmd_avail(conn, args) -> int:
    processes = _result(conn.call("avail"), args)
    if args.json:
        _print_json(processes)
        return EXIT_OK
    # supervisorctl's columns; priority as GROUP_PRIORITY:PRIORITY, as it shows them
    width = max([len(p["name"]) for p in processes] + [32]) + 1
    for p in processes:
        in_use = "in use" if p["in_use"] else "avail"
        auto = "auto" if p["autostart"] else "manual"
        priority = f"{p['group_priority']}:{p['priority']}"
        print(f"{p['name']:<{width}}{in_use:<10}{auto:<10}{priority}")
    return EXIT_OK


def cmd_clear(conn, args) -> int:
    return _per_process(conn, args, "clear")


def completion_names(processes: list[dict]) -> list[str]:
    """What a NAME argument may be, from `status`: process, program and group names
    (a group of several processes also as GROUP:*), and all."""
    names: dict[str, None] = {}  # ordered and unique
    for p in processes:
        names[p["name"]] = None
        group = p.get("group")
        if group and group != p["name"]:  # not a lone process named as its group
            names[group] = None
            names[f"{group}:*"] = None
        names[p["program"]] = None
    names["all"] = None
    return list(names)


def cmd__names(conn, args) -> int:
    """Hidden, for the completion scripts: one name a line."""
    processes = _result(conn.call("status", {"figures": False}), args)
    print("\n".join(completion_names(processes)))
    return EXIT_OK


def cmd_events(conn, args) -> int:
    conn.send("events")
    while True:
        reply = conn.receive()
        if reply is None:
            return EXIT_OK
        result = _result(reply, args)
        conn.streaming = True  # it answered: hours without a change are normal
        if "subscribed" in result:
            continue
        print(_json_line(result), flush=True)


def cmd_shutdown(conn, args) -> int:
    pid = conn.call("pid")  # to see the process itself end, not only its socket
    _result(conn.call("shutdown"), args)
    # The daemon replies when every program has stopped; wait for it to go away too.
    conn.sock.settimeout(10)
    try:
        while conn.sock.recv(4096):
            pass
    except OSError:
        pass
    conn.wait_gone(5, pid["result"] if pid.get("ok") else None)
    if args.json:
        _print_json({"shutdown": True})
    else:
        print("Shut down")
    return EXIT_OK


def cmd_version(conn, args) -> int:
    reply = conn.call("version")
    daemon = reply["result"]["daemon"] if reply["ok"] else "unknown"
    http = reply["result"].get("http") if reply["ok"] else None
    if args.json:
        _print_json({"client": __version__, "daemon": daemon, **({"http": http} if http else {})})
    else:
        print(f"supervisorctl-lite {__version__}")
        print(f"supervisord-lite {daemon}")
        if http:
            print(_http_line(http))
    return EXIT_OK


def cmd_reexec(conn, args) -> int:
    """The daemon execs its installed code in place; the new image answers."""
    result = _result(conn.call("reexec"), args)
    if args.json:
        _print_json(result)
    else:
        print(
            f"reexec: pid {result['pid']} now runs supervisord-lite {result['version']} "
            f"(was {result['previous_version']}); {result['processes']} processes kept, "
            f"ready in {result['seconds']:.2f}s"
        )
    return EXIT_OK


def _http_line(http: dict) -> str:
    """The daemon's [http] listener: serving, or why not and when it tries again."""
    where = http.get("listen", "")
    if http.get("serving"):
        return f"http: serving {'https' if http.get('tls') else 'http'}://{where}/"
    line = f"http: NOT serving {where}: {http.get('error')}"
    if "retry_in" in http:
        line += f" (tried {http.get('retries', 0) + 1} times; again in {http['retry_in']:g} s)"
    return line


def cmd_metrics(conn, args) -> int:
    text = _result(conn.call("metrics"), args)
    if args.json:
        _print_json({"metrics": text})
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_top(conn, args) -> int:
    # The top package's one way in (with main.py's for -H): top alone pays for it.
    from supervisord_lite.ctl.top.top import cmd_top as run_top

    return run_top(conn, args)


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
    "metrics": cmd_metrics,
    "avail": cmd_avail,
    "clear": cmd_clear,
    "maintail": cmd_maintail,
    "scale": cmd_scale,
    "reexec": cmd_reexec,
    "_names": cmd__names,
    **GROUP_WORDS,
    "fg": cmd_fg,
    "top": cmd_top,
}


# Commands whose end by Ctrl-C is their normal end.
STREAMING = ("events", "tail", "maintail", "fg")


def run(conn: Connection, args) -> int:
    """One command on a connection, its exit code: the command line's and the shell's."""
    conn.streaming, conn.on_tick = False, None  # the shell's connection serves many
    try:
        return COMMANDS[args.command](conn, args)
    except CommandFailed as exc:
        return exc.exit_code
    except Unreachable as exc:
        print(f"supervisorctl-lite: {exc}", file=sys.stderr)
        json_error(args, UNREACHABLE, str(exc))
        return EXIT_UNREACHABLE
    except BrokenPipeError:
        return EXIT_OK
