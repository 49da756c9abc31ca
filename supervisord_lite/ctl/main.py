"""supervisorctl-lite: the control client's main().

Blocking and small on purpose: its start-up time is a feature (issue 4). It imports
the wire protocol and base/paths.py (through client.py), never the config module nor
the daemon side: it reads only the socket from the config file. The command line is
parse.py's, the connection client.py's, each command's request and output
commands.py's; the shell, completion and -H are loaded only when asked for.
"""

from __future__ import annotations

import sys

from supervisord_lite.ctl.client import (
    DEFAULT_TIMEOUT,
    NO_CONFIG,
    UNREACHABLE,
    Connection,
    NoConfig,
    Unreachable,
    socket_path,
    unreachable_hint,
)
from supervisord_lite.ctl.commands import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    STREAMING,
    json_error,
    run,
)
from supervisord_lite.ctl.parse import parse_args, shell_options


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    options = shell_options(argv)
    if options is not None:
        from supervisord_lite.ctl.shell import run_shell  # readline: the shell only

        return run_shell(options)
    args = parse_args(argv)
    if args.command == "completion":
        from supervisord_lite.ctl.completion import script  # its tables: completion only

        print(script(args.shell), end="")
        return EXIT_OK
    if getattr(args, "hosts", None) or getattr(args, "hosts_file", None):
        if args.command == "top":  # one live view of every host, not a block per host
            from supervisord_lite.ctl.top.top import run_top_hosts  # top's extra: top only

            return run_top_hosts(args)
        from supervisord_lite.ctl.hosts import run_hosts  # subprocess, ssh: -H only

        return run_hosts(args)
    try:
        conn = connect(args)
    except NoConfig as exc:
        print(f"supervisorctl-lite: {exc}", file=sys.stderr)
        json_error(args, NO_CONFIG, str(exc))
        return EXIT_USAGE
    if conn is None:
        return EXIT_UNREACHABLE
    if args.command in STREAMING:  # Ctrl-C is how a stream ends: never a lost one
        conn.wake_on_signals()
    try:
        return run(conn, args)
    except KeyboardInterrupt:
        return EXIT_OK if args.command in STREAMING else EXIT_FAILED
    finally:
        conn.close()


def connect(args) -> Connection | None:
    """The connection to the daemon, or None once the user was told why not. Raises
    NoConfig (the config naming the socket is missing or refused)."""
    path = socket_path(args)
    try:
        return Connection(path, getattr(args, "timeout", DEFAULT_TIMEOUT))
    except Unreachable as exc:
        print(f"supervisorctl-lite: {exc}\n{unreachable_hint(args)}", file=sys.stderr)
        json_error(args, UNREACHABLE, str(exc))
        return None
