"""Applying a program's `[programs.NAME.limits]` in the child, between fork and exec.

Why the child and not the daemon: posix_spawn runs no code in the child, and the
alternatives were measured (docs/limits.md). setrlimit/setpriority on the daemon around
a posix_spawn would be cheapest, but a lowered hard limit or a raised nice cannot be
undone without root, a `cpu` limit below the daemon's own CPU time would SIGXCPU the
daemon, and an `as` limit would fail the daemon's own allocations; prlimit(2) on the
new pid after posix_spawn is too late (the program has exec'd and may have read its
limits already). So a program with limits starts through Popen with a preexec_fn (one
fork, ~1 ms more per spawn; only such programs pay it). The daemon has no threads, the
one case where a preexec_fn is unsafe.
"""

from __future__ import annotations

import errno
import os
import resource
from typing import Any

from supervisord_lite.config.limits import CGROUP_KEYS, RLIMITS, UNLIMITED


class LimitError(Exception):
    """A limit the child could not take; the message names it, for `status`."""


def apply(limits: tuple[tuple[str, Any], ...]) -> None:
    """Apply every limit to the calling process (the child, before exec).

    Runs between fork and exec: no allocation-heavy work, no imports, no logging.
    Raises LimitError naming the limit and the OS's reason."""
    for key, value in limits:
        if key in CGROUP_KEYS:  # the kernel's, on the cgroup: never the child's to set
            continue
        try:
            if key == "nice":
                os.setpriority(os.PRIO_PROCESS, 0, value)
            elif key == "oom_score_adj":
                fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
                try:
                    os.write(fd, b"%d" % value)
                finally:
                    os.close(fd)
            else:
                resource.setrlimit(RLIMITS[key][0], value)
        except (OSError, ValueError) as exc:
            reason = f"cannot set limit {key} = {_show_value(key, value)}: {_why(key, exc)}"
            raise LimitError(reason) from None


def _show_value(key: str, value: Any) -> str:
    if key not in RLIMITS:
        return str(value)
    soft, hard = ("unlimited" if v == UNLIMITED else str(v) for v in value)
    return soft if soft == hard else f"[{soft}, {hard}]"


def _why(key: str, exc: Exception) -> str:
    # setrlimit reports EPERM as ValueError("not allowed to raise maximum limit")
    denied = isinstance(exc, ValueError) or exc.errno in (errno.EPERM, errno.EACCES)
    reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    if denied and os.geteuid() != 0:
        reason += " (raising a hard limit, nice < 0 or oom_score_adj < 0 needs root)"
    elif denied and key == "nice":
        reason += " (nice < 0 needs CAP_SYS_NICE)"
    elif denied:
        extra = ", and nofile's ceiling is /proc/sys/fs/nr_open" if key == "nofile" else ""
        reason += f" (raising a hard limit or lowering oom_score_adj needs CAP_SYS_RESOURCE{extra})"
    return reason
