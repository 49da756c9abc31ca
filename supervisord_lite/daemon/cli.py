"""supervisord-lite's command line: parse it, validate the config (--check), print the
unit (--print-unit), hand a subcommand to its own module (`convert`, `export`,
`hash-password`), then start the daemon in the foreground or detached (with --wait,
until its programs are up: launch_wait.py's).

Everything that can fail for a user's reason (bad config, daemon already running,
unwritable paths) is checked before detaching, so the launching command can say so.
Claiming the pidfile and socket and detaching are startup.py's job, the running daemon
running.py's.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

from supervisord_lite import __version__
from supervisord_lite.base import cjson
from supervisord_lite.config.host import host_problems
from supervisord_lite.config.load import find_config_path, load_config
from supervisord_lite.config.model import ConfigError
from supervisord_lite.daemon import reexec_state
from supervisord_lite.daemon.running import Daemon
from supervisord_lite.daemon.startup import (
    EXIT_STARTUP,
    StartupError,
    detach_and_run,
    open_closed_stdio,
)
from supervisord_lite.logs import daemon_log
from supervisord_lite.systemd import unit

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

EXIT_CONFIG = 2


# The subcommands, each a tool of its own loaded only when named: (usage, what it does).
SUBCOMMANDS = {
    "convert": (
        "SUPERVISORD.CONF [-o OUT.toml]",
        "convert a Supervisor config to TOML, with a warning for each setting not carried "
        "over exactly (docs/migrating.md)",
    ),
    "export": (
        "systemd [-c CONFIG] -o DIR [--force]",
        "write a systemd unit per process and a target for the config (docs/export.md)",
    ),
    "hash-password": (
        "",
        "read a password (asked twice on a terminal, else stdin's first line) and print "
        "its hash for [http] users (docs/web.md)",
    ),
}


def subcommands_text() -> str:
    import textwrap  # help only (argparse loads it anyway)

    lines = ["commands (each takes --help):"]
    for name, (usage, what) in SUBCOMMANDS.items():
        lines.append(f"  supervisord-lite {name} {usage}".rstrip())
        lines.append(textwrap.fill(what, 79, initial_indent=" " * 6, subsequent_indent=" " * 6))
    return "\n".join(lines)


def subcommand_help(name: str) -> str | None:
    """`NAME --help` for the subcommands whose own parser does not answer it (export
    only knows `export systemd --help`; hash-password takes no options)."""
    if name not in ("export", "hash-password"):
        return None
    import textwrap

    usage, what = SUBCOMMANDS[name]
    text = f"usage: supervisord-lite {name} {usage}".rstrip()
    text += "\n\n" + textwrap.fill(f"{what[0].upper()}{what[1:]}.", 79)
    if name == "export":
        text += "\n\nformats:\n  systemd   see: supervisord-lite export systemd --help"
    return text


def build_parser() -> argparse.ArgumentParser:
    import argparse  # only for what fast_parse leaves: its import stays resident for good

    parser = argparse.ArgumentParser(
        prog="supervisord-lite",
        description="Run the programs of a TOML config and keep them running.",
        epilog=subcommands_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-c", "--configuration", dest="config", metavar="CONFIG")
    parser.add_argument(
        "-n", "--nodaemon", action="store_true", help="stay in the foreground (log to stderr too)"
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="return only once every autostart process is RUNNING (exit 1 if one is FATAL)",
    )
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument(
        "--json", action="store_true", help="with --check: print the resolved config as JSON"
    )
    parser.add_argument("--version", action="version", version=f"supervisord-lite {__version__}")
    parser.add_argument(
        "--print-unit", action="store_true", help="print a systemd unit for this install and exit"
    )
    return parser


def fast_parse(argv: list[str]) -> SimpleNamespace | None:
    """The usual command lines, each option at most once: [-c CONFIG] [-n] [--check].
    None for anything else (help, --version, --print-unit, other spellings, mistakes),
    which argparse then parses: same result, same messages and exit codes. argparse
    (with gettext) would add 0.4 MiB to the daemon's memory for its whole life."""
    args = SimpleNamespace(
        config=None, nodaemon=False, check=False, print_unit=False, json=False, wait=False
    )
    seen = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = _FAST_OPTIONS.get(arg)
        if name is None or name in seen:
            return None
        seen.add(name)
        if name == "config":
            if i + 1 == len(argv) or not argv[i + 1] or argv[i + 1][0] == "-":
                return None
            args.config = argv[i + 1]
            i += 2
        else:
            setattr(args, name, True)
            i += 1
    return args


_FAST_OPTIONS = {
    "-c": "config",
    "--configuration": "config",
    "-n": "nodaemon",
    "--nodaemon": "nodaemon",
    "--check": "check",
    "--wait": "wait",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace | SimpleNamespace:
    args = fast_parse(sys.argv[1:] if argv is None else argv)
    if args is not None and not (args.wait and (args.nodaemon or args.check)):
        return args
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.json and not args.check:
        parser.error("--json goes with --check")
    if args.wait and (args.nodaemon or args.check):
        parser.error("--wait goes with a detaching launch (not with -n or --check)")
    if args.print_unit:  # needs no config: the unit is written before the config often
        print(unit.render(unit.config_path(args.config)), end="")
        parser.exit(0)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    open_closed_stdio()  # before any file is opened
    try:
        state_fd = reexec_state.fd_from_env(os.environ)  # out of the environment at once
    except reexec_state.StateError as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    if state_fd is not None:
        return run_takeover(state_fd)
    if argv[:1] == ["--takeover-check"]:  # reexec's check of the installed code
        from supervisord_lite.daemon import takeover  # a daemon that never reexecs: not loaded

        return takeover.check_main(argv[1:])
    if argv[:1] and argv[1:] in (["-h"], ["--help"]):
        text = subcommand_help(argv[0])
        if text is not None:
            print(text)
            return 0
    if argv[:1] == ["hash-password"]:  # a password hash for [http] users
        from supervisord_lite.daemon.hash_password import main as hash_password

        return hash_password(argv[1:])
    if argv[:1] == ["convert"]:
        from supervisord_lite.convert import converter  # the daemon itself never loads it

        return converter.main(argv[1:])
    if argv[:1] == ["export"]:
        from supervisord_lite.systemd import export  # the daemon itself never loads it

        return export.main(argv[1:])
    args = parse_args(argv)
    if args.check:
        return run_check(args.config, args.json)
    try:
        config = load_config(find_config_path(args.config))
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    # What --check reports, as warnings: the config runs (a program whose directory or
    # command is missing goes FATAL, the others serve), but the user should know.
    for line in (*config.warnings, *host_problems(config)):
        print(f"warning: {line}", file=sys.stderr)
    try:
        daemon = Daemon(config, foreground=args.nodaemon)
        daemon.prepare()
    except StartupError as exc:
        print(f"supervisord-lite: {exc}{_stop_hint(exc, config.path)}", file=sys.stderr)
        return EXIT_STARTUP
    if args.nodaemon:
        try:
            return daemon.run(ready_fd=None)
        finally:
            daemon_log.flush()
    code = detach_and_run(daemon.run, daemon.config.logfile)
    if code == 0 and args.wait:
        from supervisord_lite.daemon.launch_wait import wait_running  # only for --wait

        _let_go(daemon)
        return wait_running(daemon.config)
    return code


def run_takeover(state_fd: int) -> int:
    """The new image after a reexec: the same pid, in the foreground of whatever the
    previous image was (it detached already, if it did)."""
    try:
        state = reexec_state.read(state_fd)
        config = load_config(state["config"])
    except (reexec_state.StateError, ConfigError) as exc:
        # The check passed a moment ago, so only a race gets here (the config edited
        # in between). The children run on; the record beside the pidfile names them,
        # so the next daemon stops them before starting afresh (SPEC §1).
        reason = "; ".join(exc.errors) if isinstance(exc, ConfigError) else str(exc)
        print(f"supervisord-lite: reexec: cannot take over: {reason}", file=sys.stderr)
        return EXIT_STARTUP
    finally:
        os.close(state_fd)
    daemon = Daemon(config, foreground=state["foreground"])
    try:
        daemon.take_over(state)
    except StartupError as exc:
        print(f"supervisord-lite: reexec: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    try:
        return daemon.run(ready_fd=None)
    finally:
        daemon_log.flush()


def _let_go(daemon: Daemon) -> None:
    """The launcher's copies of what the detached daemon holds (its sockets, the
    pidfile's lock, which lives while any copy is open): closed before --wait, so that
    a daemon that dies meanwhile leaves nothing held."""
    if daemon.listen_sock is not None:
        daemon.listen_sock.close()
    for sock in daemon.http_socks:  # [http]: 127.0.0.1 and ::1 for a loopback listen
        sock.close()
    os.close(daemon.pidfile_fd)


def _stop_hint(exc: StartupError, config_path: str) -> str:
    """For a daemon already running: the command that stops it, with the -c it needs
    (the ctl finds its socket through the config, and the current directory's default
    need not be this one)."""
    if not exc.running:
        return ""
    import shlex

    return f"; stop it first with: supervisorctl-lite -c {shlex.quote(config_path)} shutdown"


def run_check(explicit_path: str | None, as_json: bool) -> int:
    """--check: every error and warning, the same in text and in JSON; exit 0 / 2.
    Text: the lines on stderr and `config OK: N programs` on stdout; JSON: one object
    on stdout, with the resolved config."""

    from supervisord_lite.config.check import check, check_report  # only for --check

    try:
        path = find_config_path(explicit_path)
    except ConfigError as exc:  # no config file to be found (or refused)
        path, errors = None, exc.errors
    if as_json:
        report = check_report(path) if path is not None else _no_report(errors)
        if path is not None:
            problems = _quota_problems(path)
            report["errors"] += problems
            report["ok"] = report["ok"] and not problems
        # Indented for a person at a terminal; one line otherwise, with the C encoder
        # (the indenting one is pure Python: a third of a 1000-program check).
        print(cjson.indented(report) if sys.stdout.isatty() else cjson.dumps(report))
        return 0 if report["ok"] else EXIT_CONFIG
    config, warnings = None, []
    if path is not None:
        config, errors, warnings = check(path)
        errors += _quota_problems(path) if config is not None else []
    for line in errors:
        print(line, file=sys.stderr)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    if errors or config is None:
        return EXIT_CONFIG
    print(f"config OK: {len(config.programs)} programs")
    return 0


def _quota_problems(path: str) -> list[str]:
    """cpu_quota / tasks_max where this host's cgroups could not keep them (quotas.py)."""
    from supervisord_lite.config.load import load_config_report  # only for --check
    from supervisord_lite.daemon.quotas import quota_problems, uses_quotas
    from supervisord_lite.linux.cgroups import controllers_available

    config, _ = load_config_report(path)
    if config is None or not uses_quotas(config):
        return []
    available, why = controllers_available(config.cgroup_root)
    return quota_problems(config, available, why)


def _no_report(errors: list[str]) -> dict:
    return {"ok": False, "errors": errors, "warnings": [], "programs": {}, "groups": {}}
