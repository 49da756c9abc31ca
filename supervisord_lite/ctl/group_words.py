"""Supervisor's words for changing the running config by group: `reread` (what a
reload would change, applying nothing: `reload --dry-run`), `update [GROUP...]`
(apply it, only to those groups when named), `add GROUP...` and `remove GROUP...`
(one group's addition or removal), printed as supervisorctl prints them.
"""

from __future__ import annotations

from supervisord_lite.ctl.client import Connection
from supervisord_lite.ctl.replies import EXIT_OK, print_json, result


def cmd_reread(conn: Connection, args) -> int:
    """supervisorctl's lines: `GROUP: available | changed | disappeared`."""
    diff = result(conn.call("reload", {"dry_run": True}), args)
    if args.json:
        print_json(diff)
        return EXIT_OK
    groups = diff.get("groups") or {}
    words = {"added": "available", "changed": "changed", "removed": "disappeared"}
    lines = sorted(
        f"{name}: {word}" for key, word in words.items() for name in groups.get(key) or []
    )
    print("\n".join(lines) if lines else "No config updates to processes")
    return EXIT_OK


def cmd_update(conn: Connection, args) -> int:
    diff = result(conn.call("update", {"groups": args.names}), args)
    return _print_diff(diff, args)


def cmd_add(conn: Connection, args) -> int:
    diff = result(conn.call("add", {"names": args.names}), args)
    if not args.json:
        for name in args.names:
            print(f"{name}: added process group")
    return _print_diff(diff, args, quiet=True)


def cmd_remove(conn: Connection, args) -> int:
    diff = result(conn.call("remove", {"names": args.names}), args)
    if not args.json:
        for name in args.names:
            print(f"{name}: removed process group")
    return _print_diff(diff, args, quiet=True)


def _print_diff(diff: dict, args, quiet: bool = False) -> int:
    """The programs a change added, changed (restarted) and removed."""
    if args.json:
        print_json(diff)
    elif not quiet:
        for key in ("added", "changed", "removed"):
            names = diff.get(key) or []
            print(f"{key}: {', '.join(names) if names else '-'}")
    return EXIT_OK


GROUP_WORDS = {"reread": cmd_reread, "update": cmd_update, "add": cmd_add, "remove": cmd_remove}
