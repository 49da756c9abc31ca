"""The ssh road to a daemon on another host, as the ctl's -H and the daemon's [http]
hosts both take it: a `[USER@]HOST[:PATH]` target, the ssh command line that forwards
a private local socket to the remote daemon's (`ssh -N -L LOCAL:REMOTE`, ctl/transport.py
says why -L), and what ssh said when it failed. Values and argv only: running ssh is
the caller's (the ctl blocks on it; the daemon runs it on its loop).
"""

from __future__ import annotations

import os
import shlex

# The ssh command to run (shlex rules), for a test's `-F config` or a wrapper.
SSH_ENV_VAR = "SUPERVISORCTL_LITE_SSH"
# Where the remote daemon listens unless the target or -s says otherwise: the socket of
# the system install that docs/deploy.md recommends.
DEFAULT_REMOTE_SOCKET = "/run/supervisord_lite.sock"
READY_WORD = b"sdl-tunnel-ready"
STDERR_LINES = 3  # how much of ssh's stderr an error quotes


class TargetError(ValueError):
    """A -H target or a hosts-file line that cannot be a target."""


class Target:
    """One `[USER@]HOST[:PATH]`: ssh's destination and the remote socket's path."""

    def __init__(self, text: str, default_path: str = DEFAULT_REMOTE_SOCKET):
        self.text = text
        self.destination, path = _split_target(text)
        self.path = path or default_path
        if not self.destination or self.destination.startswith("-"):
            raise TargetError(f"{text!r}: expected [USER@]HOST[:/PATH/TO.sock]")
        if not os.path.isabs(self.path):
            raise TargetError(f"{text!r}: the remote socket path must be absolute")

    def __repr__(self) -> str:
        return f"Target({self.text!r})"


def _split_target(text: str) -> tuple[str, str | None]:
    """HOST and PATH of HOST[:PATH]; an IPv6 address takes brackets ([::1]:/x.sock)
    unless no path follows it."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise TargetError(f"{text!r}: expected [IPV6]:/PATH/TO.sock")
        return host, rest[1:] or None
    if text.count(":") > 1 and ":/" not in text:
        return text, None  # a bare IPv6 address
    host, sep, path = text.partition(":")
    return host, (path or None) if sep else None


def ssh_command() -> list[str]:
    return shlex.split(os.environ.get(SSH_ENV_VAR) or "ssh")


def tunnel_argv(target: Target, local: str, connect_timeout: float) -> list[str]:
    """ssh forwarding `local` (a socket path ssh binds) to the target's socket."""
    options = {
        "BatchMode": "yes",  # never a password prompt: a host without keys fails
        "ConnectTimeout": str(max(1, round(connect_timeout))),
        "ExitOnForwardFailure": "yes",
        "ControlPath": "none",  # a mux client would skip LocalCommand: no readiness
        "PermitLocalCommand": "yes",
        "LocalCommand": f"echo {READY_WORD.decode()}",
        "ServerAliveInterval": "15",
        "ServerAliveCountMax": "3",
    }
    argv = ssh_command() + ["-T", "-N"]
    for key, value in options.items():
        argv += ["-o", f"{key}={value}"]
    return argv + ["-L", f"{local}:{target.path}", "--", target.destination]


def ssh_last_words(path: str, start: int = 0) -> str:
    """The last lines ssh wrote to its stderr file (from byte `start` on), without its
    chatter about known hosts."""
    try:
        with open(path, "rb") as f:
            f.seek(max(start, os.fstat(f.fileno()).st_size - 65536))  # the last words only
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("Warning: Permanently added")
    ]
    return "; ".join(lines[-STDERR_LINES:])
