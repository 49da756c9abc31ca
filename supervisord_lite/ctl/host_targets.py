"""The hosts of `-H`/`--hosts`: each target once, from the command line and the hosts
file (one a line, `#` comments). Apart from hosts.py so that `top -H` reads them
without loading the ctl's command table."""

from __future__ import annotations

from supervisord_lite.base.ssh import DEFAULT_REMOTE_SOCKET, Target, TargetError


def read_targets(args) -> list[Target]:
    """-H targets, then the --hosts file's, each once. Raises TargetError."""
    texts = list(args.hosts or [])
    if args.hosts_file:
        texts += _hosts_file_lines(args.hosts_file)
    default_path = args.socket or DEFAULT_REMOTE_SOCKET
    unique = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
    if not unique:
        raise TargetError(f"--hosts {args.hosts_file}: no hosts in it")
    return [Target(text, default_path) for text in unique]


def _hosts_file_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, ValueError) as exc:
        raise TargetError(f"--hosts {path}: cannot read it: {exc}") from None
    targets = []
    for number, line in enumerate(lines, 1):
        words = _without_comment(line).split()
        if len(words) > 1:
            raise TargetError(f"{path}:{number}: one host a line, got {line.strip()!r}")
        targets += words
    return targets


def _without_comment(line: str) -> str:
    """A `#` at the start or after a blank starts a comment (a path may hold `#`)."""
    import re

    match = re.search(r"(^|\s)#", line)
    return line if match is None else line[: match.start()]
