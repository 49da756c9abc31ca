"""What the daemon asks of the OS for itself at start-up: enough descriptors for its
clients beside its programs' pipes and logs, and to be the reaper of orphans.

The default max_clients is what the open-file limit leaves once every process's pipes
and log files and the daemon's own descriptors are counted, so a full house of clients
can never starve a spawn of its pipes.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

from supervisord_lite.base.log import log
from supervisord_lite.config.model import DaemonConfig

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
# Descriptors per process and stream: the pipe and the log file (opened at the first
# byte); with redirect_stderr, stderr shares stdout's.
FDS_PER_STREAM = 2
OWN_FDS = 64  # the daemon's own: epoll, socket, signal pair, pidfile, its log, /dev/null...
MIN_DEFAULT_CLIENTS = 1024


def max_clients(config: DaemonConfig) -> int:
    """The setting, or by default what the descriptor limit leaves after programs."""
    if config.max_clients is not None:
        return config.max_clients
    reserve = reserved_fds(config)
    raise_fd_limit(reserve + MIN_DEFAULT_CLIENTS)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, soft - reserve)


def reserved_fds(config: DaemonConfig) -> int:
    streams = sum(
        program.numprocs * (1 if program.redirect_stderr else 2)
        for program in config.programs.values()
    )
    return OWN_FDS + FDS_PER_STREAM * streams


def raise_fd_limit(wanted: int) -> None:
    """Raise the soft RLIMIT_NOFILE toward `wanted`, never past the hard limit, and no
    further than needed: programs inherit the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the open-file limit to %d: %s", target, exc)


def become_subreaper() -> None:
    """Orphaned grandchildren are re-parented to us, so we reap them (prctl(2))."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log.warning("cannot become a child subreaper: %s", os.strerror(ctypes.get_errno()))
