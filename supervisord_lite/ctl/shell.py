"""The ctl's interactive shell: `supervisorctl-lite` with no command (supervisorctl's).

Each line is parsed and run exactly as the command line would be (parse.parse_args,
ctl_output.run), on one connection kept for the session. On a terminal: a prompt, readline
line editing, history in ~/.supervisorctl_lite_history, completion of commands and of
names (asked of the daemon once per completion). Otherwise lines are read from stdin
without a prompt (scripts). Only imported for the shell: readline and shlex cost the
ordinary command lines nothing.
"""

from __future__ import annotations

import _socket
import os
import shlex
import sys

from supervisord_lite.base.paths import find_config_path
from supervisord_lite.ctl import parse
from supervisord_lite.ctl.client import (
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
    completion_names,
    run,
)
from supervisord_lite.ctl.completion import (
    COMMAND_NAMES,
    NAME_COMMANDS,
    OPTIONS,
    SIGNALS,
    script,
)

PROMPT = "supervisorctl-lite> "
HISTORY_FILE = "~/.supervisorctl_lite_history"
HISTORY_LENGTH = 1000
SHELL_WORDS = ["help", "quit", "exit"]


class Quit(Exception):
    pass


class Shell:
    """One session: the options it was started with and its connection to the daemon."""

    def __init__(self, options):
        self.options = options  # config, socket, json: as given to supervisorctl-lite
        self.conn: Connection | None = None

    # -- the connection ---------------------------------------------------------------

    def connection(self) -> Connection:
        """The session's connection, made again if the daemon dropped it (idle timeout,
        a restart). Raises Unreachable."""
        if self.conn is not None and _dropped(self.conn):
            self.disconnect()
        if self.conn is None:
            self.conn = Connection(socket_path(self.options))
        return self.conn

    def disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- one line ---------------------------------------------------------------------

    def execute(self, line: str) -> int:
        """Run one line; its exit code. Raises Quit."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            print(f"supervisorctl-lite: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not words:
            return EXIT_OK
        if words[0] in ("quit", "exit"):
            raise Quit
        if words[0] == "help":
            return show_help(words[1:])
        try:
            args = parse.parse_args(words)
        except SystemExit as exc:  # argparse told the user already (usage, or -h)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        args.config, args.socket = self.options.config, self.options.socket
        args.json = args.json or self.options.json
        if args.command == "completion":
            print(script(args.shell), end="")
            return EXIT_OK
        try:
            conn = self.connection()
        except NoConfig as exc:
            print(f"supervisorctl-lite: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except Unreachable as exc:
            print(f"supervisorctl-lite: {exc}\n{unreachable_hint(args)}", file=sys.stderr)
            return EXIT_UNREACHABLE
        try:
            code = run(conn, args)
        except KeyboardInterrupt:
            # Its replies may still come: the next command gets a connection of its own.
            self.disconnect()
            print()
            return EXIT_OK if args.command in STREAMING else EXIT_FAILED
        if code == EXIT_UNREACHABLE or args.command == "shutdown":
            self.disconnect()
        return code

    # -- completion -------------------------------------------------------------------

    def names(self) -> list[str]:
        """What a NAME may be: from the daemon, else from the config file's tables."""
        try:
            reply = self.connection().call("status", {"figures": False})
            if reply.get("ok"):
                return completion_names(reply["result"])
        except (Unreachable, OSError, ValueError):
            self.disconnect()
        return _config_names(self.options.config)


def _dropped(conn: Connection) -> bool:
    """Whether the daemon closed the connection (or said why it will, idle)."""
    try:
        conn.sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False  # nothing to read: still open
    except OSError:
        return True
    return True  # its end, or a line nobody asked for (the idle timeout's): stale


def _config_names(config: str | None) -> list[str]:
    """Program and group names from the config file, when the daemon cannot be asked."""
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - exercised on the 3.9/3.10 CI only
            import tomli as tomllib
        with open(find_config_path(config), "rb") as f:
            data = tomllib.load(f)
    except Exception:  # completion must never break the prompt
        return ["all"]
    names = []
    for table in ("programs", "groups"):
        section = data.get(table)
        if isinstance(section, dict):
            names.extend(section)
    return [*names, "all"]


def candidates(shell: Shell, before: list[str], text: str) -> list[str]:
    """The completions of `text`, the word after the words `before` on the line."""
    if not before:
        return _matching(COMMAND_NAMES + SHELL_WORDS, text)
    command, rest = before[0], before[1:]
    if command == "help":
        return _matching(COMMAND_NAMES, text) if not rest else []
    if text.startswith("-"):
        return _matching(OPTIONS.get(command, []), text)
    positionals = _positionals(rest)
    if command in NAME_COMMANDS:
        return _matching(shell.names(), text)
    if command == "signal":
        return _matching(SIGNALS if positionals == 0 else shell.names(), text)
    if command in ("tail", "pid") and positionals == 0:
        return _matching(shell.names(), text)
    if command == "tail" and positionals == 1:
        return _matching(["stdout", "stderr"], text)
    if command == "completion" and positionals == 0:
        return _matching(["bash", "zsh"], text)
    return []


def _positionals(words: list[str]) -> int:
    count, skip = 0, False
    for word in words:
        if skip:
            skip = False
        elif word == "-n":
            skip = True
        elif not word.startswith("-"):
            count += 1
    return count


def _matching(words: list[str], text: str) -> list[str]:
    return [word for word in words if word.startswith(text)]


class Completer:
    """readline's completer: candidates worked out once per completion (state 0)."""

    def __init__(self, shell: Shell, readline):
        self.shell = shell
        self.readline = readline
        self.matches: list[str] = []

    def complete(self, text: str, state: int) -> str | None:
        if state == 0:
            line = self.readline.get_line_buffer()[: self.readline.get_begidx()]
            try:
                self.matches = candidates(self.shell, line.split(), text)
            except Exception:  # readline would swallow it silently anyway
                self.matches = []
        # Python's readline appends nothing after a completed word: the space is ours.
        return self.matches[state] + " " if state < len(self.matches) else None


def show_help(words: list[str]) -> int:
    parser = parse.build_parser()
    commands = _subcommands(parser)
    if not words:
        print("commands (help COMMAND for its options):")
        for name, sub in commands.items():
            if not name.startswith("_"):
                print(f"  {name:<12}{sub.description or ''}")
        print("  help        this list, or help COMMAND")
        print("  quit, exit  leave the shell (or Ctrl-D)")
        return EXIT_OK
    sub = commands.get(words[0])
    if sub is None or words[0].startswith("_"):
        print(f"supervisorctl-lite: no such command: {words[0]}", file=sys.stderr)
        return EXIT_USAGE
    print(sub.format_help(), end="")
    return EXIT_OK


def _subcommands(parser) -> dict:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                sub.description = sub.description or helps.get(name)
            return dict(action.choices)
    return {}


def _setup_readline(shell: Shell):
    """Line editing, history and completion; None where readline is missing."""
    try:
        import readline
    except ImportError:  # pragma: no cover - Python built without it
        return None
    path = os.path.expanduser(HISTORY_FILE)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        readline.read_history_file(path)
    except OSError:
        pass  # the first session, or an unreadable file: start without
    readline.set_completer_delims(" \t\n")
    readline.set_completer(Completer(shell, readline).complete)
    if "libedit" in (readline.__doc__ or ""):  # pragma: no cover - macOS
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    return readline


def _save_history(readline) -> None:
    try:
        readline.write_history_file(os.path.expanduser(HISTORY_FILE))  # at most the length
    except OSError as exc:
        print(f"supervisorctl-lite: cannot save the history: {exc.strerror}", file=sys.stderr)


def run_shell(options) -> int:
    """The shell until quit or end of input; the last command's exit code."""
    shell = Shell(options)
    interactive = sys.stdin.isatty()
    readline = _setup_readline(shell) if interactive else None
    code = EXIT_OK
    try:
        while True:
            try:
                line = _read_line(interactive)
            except KeyboardInterrupt:
                print()  # Ctrl-C at the prompt drops the line, as in bash
                continue
            if line is None:
                if interactive:
                    print()
                break
            try:
                code = shell.execute(line)
            except Quit:
                break
            sys.stdout.flush()
    finally:
        if readline is not None:
            _save_history(readline)
        shell.disconnect()
    return code


def _read_line(interactive: bool) -> str | None:
    """The next line, or None at the end of input."""
    if interactive:
        try:
            return input(PROMPT)
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line if line else None
