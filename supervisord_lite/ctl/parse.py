"""supervisorctl-lite's command line: `parse_args` (and the shell's `shell_options`).

The common command lines are parsed by hand (`fast_parse`); argparse is built only for
the others (help, usage errors, rarer options), so those behave exactly as argparse
makes them. Imported by main.py's main, the shell (each line) and -H workers.
"""

from __future__ import annotations

import sys

from supervisord_lite import __version__
from supervisord_lite.ctl.client import DEFAULT_CONNECT_TIMEOUT, DEFAULT_PARALLEL, DEFAULT_TIMEOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def build_parser() -> argparse.ArgumentParser:
    """The full argparse parser, for the command lines fast_parse leaves to it."""
    import argparse  # only here: most command lines never need it (ctl start-up)

    parser = argparse.ArgumentParser(
        prog="supervisorctl-lite", description="Control supervisord-lite."
    )
    _add_daemon_options(parser)
    _add_host_options(parser)
    # Not required by argparse: parse_args says why a command is missing (the shell
    # takes one daemon only).
    _add_commands(parser.add_subparsers(dest="command", metavar="COMMAND"), argparse.SUPPRESS)
    return parser


def _add_daemon_options(parser: argparse.ArgumentParser) -> None:
    """Which daemon to talk to, and how the answer is shown."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-c", "--configuration", dest="config", metavar="CONFIG")
    where.add_argument("-s", "--socket", metavar="SOCKET", help="the daemon's socket path")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="give up on a daemon that does not answer within this (default "
        f"{DEFAULT_TIMEOUT:g}; 0: wait for ever); a long start or stop is waited for",
    )
    parser.add_argument("--version", action="version", version=f"supervisorctl-lite {__version__}")


def _add_host_options(parser: argparse.ArgumentParser) -> None:
    """-H and --hosts: the same command on many daemons over ssh."""
    hosts = parser.add_argument_group("many hosts over ssh (see docs/usage.md)")
    hosts.add_argument(
        "-H",
        "--host",
        dest="hosts",
        action="append",
        metavar="[USER@]HOST[:PATH]",
        help="run the command on this host's daemon over ssh (repeatable)",
    )
    hosts.add_argument(
        "--hosts", dest="hosts_file", metavar="FILE", help="a file of hosts, one a line"
    )
    hosts.add_argument("--parallel", type=int, default=16, metavar="N", help="hosts at a time (16)")
    hosts.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="SECONDS", help="per host (10)"
    )


def _add_commands(sub: argparse._SubParsersAction, suppress: str) -> None:
    """Every command and its arguments; `suppress` is argparse.SUPPRESS (argparse is
    imported only by build_parser)."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        # --json after the command too; unset unless given, so the top one stands
        p.add_argument("--json", action="store_true", default=suppress)
        return p

    command("status", "show processes").add_argument("names", nargs="*", metavar="NAME")
    for name, text in (
        ("start", "start processes and wait until RUNNING"),
        ("stop", "stop processes and wait until stopped"),
        ("restart", "stop, then start processes"),
    ):
        p = command(name, text)
        p.add_argument("names", nargs="+", metavar="NAME")
        if name == "restart":
            p.add_argument(
                "--rolling",
                action="store_true",
                help="one process at a time, each once the previous replacement is RUNNING",
            )
    p = command("signal", "send a signal to processes")
    p.add_argument("signal", metavar="SIG")
    p.add_argument("names", nargs="+", metavar="NAME")
    command("pid", "the daemon's pid, or a process's").add_argument("name", nargs="?")
    p = command("tail", "the last lines of a process log")
    p.add_argument("-f", dest="follow", action="store_true", help="follow")
    p.add_argument("-n", dest="lines", type=int, default=10, metavar="LINES")
    p.add_argument("name", metavar="NAME")
    p.add_argument("stream", nargs="?", default="stdout", choices=("stdout", "stderr"))
    p = command("reload", "re-read the config and apply the difference")
    p.add_argument(
        "--dry-run", action="store_true", help="print what would change and apply nothing"
    )
    command("events", "stream state changes as JSON lines")
    command("shutdown", "stop every program and the daemon")
    command("reexec", "run the installed daemon code in place, keeping every program running")
    command("version", "versions of client and daemon")
    command("metrics", "the Prometheus text exposition of every process and the daemon")
    command("avail", "configured processes: in use or not, autostart, priority")
    p = command("clear", "empty processes' log files")
    p.add_argument("names", nargs="+", metavar="NAME")
    p = command("maintail", "the last lines of the daemon's own log")
    p.add_argument("-f", dest="follow", action="store_true", help="follow")
    p.add_argument("-n", dest="lines", type=int, default=10, metavar="LINES")
    p = command("scale", "set a program's number of processes: only the tail starts or stops")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("count", metavar="N")
    command("reread", "what reload would change, applying nothing (reload --dry-run)")
    command("update", "apply the config's changes (only to these groups)").add_argument(
        "names", nargs="*", metavar="GROUP"
    )
    command("add", "add groups from the config").add_argument("names", nargs="+", metavar="GROUP")
    command("remove", "remove stopped groups").add_argument("names", nargs="+", metavar="GROUP")
    command(
        "fg", "follow a process's output and send it what you type (stdin = true)"
    ).add_argument("name", metavar="NAME")
    from supervisord_lite.ctl.top_args import add_top_command  # as argparse: not for status

    add_top_command(command)
    p = sub.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=("bash", "zsh"))


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
    "reexec": (0, 0),
    "version": (0, 0),
    "metrics": (0, 0),
    "avail": (0, 0),
    "clear": (1, None),
    "maintail": (0, 0),
    "scale": (2, 2),
    "reread": (0, 0),
    "update": (0, None),
    "add": (1, None),
    "remove": (1, None),
    "fg": (1, 1),
    "_names": (0, 0),  # hidden (fast path only): the names completion scripts offer
}


# What the fast path's Args hold for the -H options: it never parses them.
_ONE_HOST = {
    "timeout": DEFAULT_TIMEOUT,
    "hosts": None,
    "hosts_file": None,
    "parallel": DEFAULT_PARALLEL,
    "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
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
    args = Args(config=config, socket=sock, json=as_json, command=command, **_ONE_HOST)
    if command == "signal":
        args.signal, args.names = words[0], words[1:]
    elif command == "pid":
        args.name = words[0] if words else None
    elif command == "fg":
        args.name = words[0]
    elif command == "tail":
        stream = words[1] if len(words) > 1 else "stdout"
        if stream not in ("stdout", "stderr"):
            return None
        args.follow, args.lines, args.name, args.stream = False, 10, words[0], stream
    elif command in ("status", "start", "stop", "restart", "clear", "update", "add", "remove"):
        args.names = words
        if command == "restart":
            args.rolling = False
    elif command == "reload":
        args.dry_run = False
    elif command == "maintail":
        args.follow, args.lines = False, 10
    elif command == "scale":
        args.program, args.count = words
    return args


def shell_options(argv: list[str]) -> Args | None:
    """The global options when argv holds nothing else (no command: the interactive
    shell), else None."""
    found = Args(config=None, socket=None, json=False)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--json":
            found.json = True
            i += 1
            continue
        key = {"-c": "config", "--configuration": "config", "-s": "socket", "--socket": "socket"}
        if arg not in key or i + 1 == len(argv) or found.config or found.socket:
            return None
        setattr(found, key[arg], argv[i + 1])
        i += 2
    return found


def parse_args(argv: list[str] | None = None):
    if argv is None:
        argv = sys.argv[1:]
    fast = fast_parse(argv)
    if fast is not None:
        return fast
    parser = build_parser()
    args = parser.parse_args(argv)
    many = args.hosts or args.hosts_file
    if args.command is None:
        if many:
            parser.error(
                "the interactive shell talks to one daemon; with -H or --hosts give a "
                "command, e.g. supervisorctl-lite -H web1 status"
            )
        parser.error("the following arguments are required: COMMAND")
    if many and args.command == "fg":
        parser.error("fg talks to one process on one daemon: give it without -H or --hosts")
    if many and args.config:
        parser.error(
            "-c names a local config; with -H or --hosts give the remote socket as "
            "HOST:/PATH or -s /PATH"
        )
    if args.parallel < 1 or args.connect_timeout <= 0:
        parser.error("--parallel and --connect-timeout take numbers above 0")
    if not args.timeout >= 0:  # also refuses nan
        parser.error("--timeout takes a number of seconds >= 0 (0: wait for ever)")
    return args
