"""What every ctl command shares to answer the user: exit codes, a failed reply told
(text on stderr, and with --json an object on stdout), JSON output."""

from __future__ import annotations

import sys

from supervisord_lite.base import cjson

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_UNREACHABLE = 4

# json.dumps(value) and json.dumps(value, indent=2), without the json package's imports
json_line = cjson.encoder((", ", ": "), ensure_ascii=True, allow_nan=True)


def json_error(args, code: str, message: str) -> None:
    """With --json, a failure is also an object on stdout: scripts read stdout."""
    if getattr(args, "json", False):  # one line: tail -f and events print JSON lines
        print(json_line({"code": code, "message": message}), flush=True)


class CommandFailed(Exception):
    """The daemon answered with an error; already told to the user."""

    def __init__(self, exit_code: int):
        super().__init__(exit_code)
        self.exit_code = exit_code


def result(reply: dict, args, exit_code: int = EXIT_FAILED):
    """The reply's result, or: print its error and fail the command with exit_code."""
    if reply["ok"]:
        return reply["result"]
    err = reply.get("error") or {}
    code, text = err.get("code", "?"), err.get("message", "")
    print(f"supervisorctl-lite: ERROR ({code}): {text}", file=sys.stderr)
    json_error(args, code, text)
    raise CommandFailed(exit_code)


def print_json(value) -> None:
    print(cjson.indented(value, indent=2))
