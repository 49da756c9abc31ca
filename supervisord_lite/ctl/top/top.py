"""`supervisorctl-lite top`: a live full-screen view of every process (SPEC §14).

The ctl reaches this module only for `top` (a lazy import in its command table and in
ctl.main for -H), and this module reaches urwid, the `top` extra, only when stdout is a
terminal: every other command, and `top` into a pipe (one plain table, then exit), run
without it. The view's data is model.py's, its connections link.py's,
its screen view.py's (the only importer of urwid).

Exit codes: 0 after q or Ctrl-C, 128+N after signal N (SIGTERM, SIGHUP), 4 when the
daemon (every daemon, with -H) went away, 2 without the extra. The terminal is put back
first in every case; then the reason is printed.
"""

from __future__ import annotations

import json
import signal
import sys
import time

from supervisord_lite.ctl.client import DEFAULT_TIMEOUT, Connection, Unreachable
from supervisord_lite.ctl.replies import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from supervisord_lite.ctl.top.link import Link
from supervisord_lite.ctl.top.model import Model, json_rows, plain_table
from supervisord_lite.ctl.top_args import DEFAULT_INTERVAL

PREFIX = "supervisorctl-lite: "
INSTALL_HINT = (
    "top needs the terminal library urwid, which is not installed.\n"
    "Install the extra with: pip install 'supervisord-lite[top]'   (or: pip install urwid)\n"
    "Without a terminal (stdout a pipe or a file) top prints one plain table and needs nothing."
)
SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(Exception):
    """SIGTERM or SIGHUP: leave the screen as q does, then exit 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


def cmd_top(conn: Connection, args) -> int:
    """One daemon: the ctl's command table calls this with the ctl's connection, whose
    socket top opens again for its own connections (the shell's must stay clean)."""
    sources = [("", conn.path)]
    return run(sources, {}, args, lambda path: Connection(path, _timeout(args)))


def run_top_hosts(args) -> int:
    """-H/--hosts: one ssh tunnel per host, opened side by side."""
    from supervisord_lite.base.ssh import TargetError
    from supervisord_lite.ctl.host_targets import read_targets  # -H only
    from supervisord_lite.ctl.transport import SshConnection

    try:
        targets = read_targets(args)
    except TargetError as exc:
        print(f"{PREFIX}{exc}", file=sys.stderr)
        return EXIT_USAGE
    from concurrent.futures import ThreadPoolExecutor  # -H only

    def open_one(target):
        try:
            return SshConnection(target, args.connect_timeout, _timeout(args))
        except Unreachable as exc:
            return exc

    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        opened = list(pool.map(open_one, targets))
    conns = {t.text: c for t, c in zip(targets, opened) if isinstance(c, Connection)}
    down = {t.text: str(c) for t, c in zip(targets, opened) if not isinstance(c, Connection)}
    try:
        if not conns:
            for host, why in down.items():
                print(f"{PREFIX}{host}: {why}", file=sys.stderr)
            return EXIT_UNREACHABLE
        # The tunnels stay open: top's own connections go through them.
        unused = {c.path: c for c in conns.values()}

        def connect(path: str) -> Connection:
            # A tunnel's first connection is the SshConnection already made (it can
            # say why a remote socket failed); a later one goes through the tunnel.
            conn = unused.pop(path, None)
            return conn if conn is not None else Connection(path, _timeout(args))

        return run([(host, c.path) for host, c in conns.items()], down, args, connect)
    finally:
        for conn in conns.values():
            conn.close()


def _timeout(args) -> float | None:
    return getattr(args, "timeout", DEFAULT_TIMEOUT)


def run(sources: list[tuple[str, str]], down: dict[str, str], args, connect) -> int:
    """top over `sources` (host label, socket path): the plain table when stdout is
    not a terminal, else the live view."""
    model = Model(filter_text=getattr(args, "filter", None) or "")
    sort = getattr(args, "sort", None) or "name"
    model.set_sort(sort)
    with_host = any(host for host, _ in sources)
    as_json = getattr(args, "json", False)
    if as_json or not sys.stdout.isatty():
        return _plain(sources, down, connect, model, with_host, as_json)
    try:
        from supervisord_lite.ctl.top import view  # the extra: top's alone
    except ImportError:
        print(f"{PREFIX}{INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    interval = getattr(args, "interval", None) or DEFAULT_INTERVAL
    links: list[Link] = []
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in SIGNALS}
    top = None
    try:
        for host, path in sources:
            try:
                conn = connect(path)
            except Unreachable as exc:
                down[host] = str(exc)
                continue
            links.append(Link(host, conn, _later, _later, interval))
        if not links:
            for host, why in down.items():
                print(f"{PREFIX}{host + ': ' if host else ''}{why}", file=sys.stderr)
            return EXIT_UNREACHABLE
        top = view.Top(model, links, with_host, down)
        for link in links:
            link.on_status, link.on_event = top.on_status, top.on_event
        code = top.run()
    except KeyboardInterrupt:
        return EXIT_OK
    except Stopped as exc:
        return 128 + exc.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for link in links:
            link.close()
        if top is not None:
            top._close_log()
    if top.exit_reason:
        print(f"{PREFIX}{top.exit_reason}", file=sys.stderr)
    return code


def _later(*_args) -> None:
    """A link's callbacks before the view exists: nothing is read before it runs."""


def _plain(sources, down, connect, model: Model, with_host: bool, as_json: bool) -> int:
    """One table (--json: one array) and exit: three status answers a little over a
    second apart, so that CPU % is the last second's, as the live view shows it (the
    first answer's figures may be older than it: see Model.apply_status)."""
    conns = []
    code = EXIT_OK
    try:
        for host, path in sources:
            try:
                conns.append((host, connect(path)))
            except Unreachable as exc:
                down[host] = str(exc)
        for round_ in range(3):
            if round_:
                time.sleep(DEFAULT_INTERVAL)
            for host, conn in list(conns):
                try:
                    reply = conn.call("status")
                except Unreachable as exc:
                    down[host] = str(exc)
                    conns.remove((host, conn))
                    continue
                if reply.get("ok"):
                    model.apply_status(host, reply["result"], time.monotonic())
        now = time.monotonic()
        if as_json:
            print(json.dumps(json_rows(model, with_host, now), indent=2))
        else:
            sys.stdout.write(plain_table(model, with_host, now))
        sys.stdout.flush()
    except BrokenPipeError:
        return EXIT_OK
    finally:
        for _, conn in conns:
            conn.close()
    for host, why in down.items():
        print(f"{PREFIX}{host + ': ' if host else ''}{why}", file=sys.stderr)
        code = EXIT_UNREACHABLE
    return code
