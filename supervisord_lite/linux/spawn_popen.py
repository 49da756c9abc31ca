"""What posix_spawn cannot do: a program with `user`, `directory` or `limits` starts
through subprocess.Popen, which switches user and directory in C between fork and exec
(no `preexec_fn`, which would run Python there), and with `[limits]` a preexec_fn that
applies them (rlimits.py says why: no cheaper way is correct). Only those programs pay
Popen's fork; spawn.py decides who goes here and builds what the child gets.
"""

from __future__ import annotations

import os

from supervisord_lite.config.model import ProgramConfig

# config/limits.py's CGROUP_KEYS, named here so a spawn never loads that module.
_CGROUP_KEYS = ("cpu_quota", "tasks_max")


def limits_in_child(limits: tuple) -> bool:
    """Whether some limit is set in the child (a preexec_fn): not cpu_quota and
    tasks_max, which the kernel keeps on the cgroup (config/limits.py CGROUP_KEYS)."""
    return any(key not in _CGROUP_KEYS for key, _ in limits)


def popen_spawn(
    program: ProgramConfig,
    argv: list[str],
    env: dict,
    stdout_w,
    stderr_w,
    user_kwargs: dict,
    passed=(None, ()),
) -> int:
    """Popen for what posix_spawn cannot do: `user`, `directory`, `limits`.

    With limits, a preexec_fn applies them and then switches user itself: Popen's own
    user switch (user=) runs before it, and the program's user could not raise a hard
    limit, set nice < 0 or lower oom_score_adj. A limit that fails is reported through
    a pipe of our own, since Popen's only says "Exception occurred in preexec_fn"."""
    # Imported here, only by daemons with a program that needs it: subprocess brings
    # locale and more, ~0.35 MiB of resident memory for the daemon's whole life.
    import subprocess

    if stderr_w is not None and stderr_w == stdout_w:
        stderr_target = subprocess.STDOUT
    else:
        stderr_target = subprocess.DEVNULL if stderr_w is None else stderr_w
    reason_r = reason_w = -1
    extra = dict(user_kwargs)
    stdin_fd, listen_fds = passed
    if listen_fds:
        # Popen cannot renumber descriptors, and close_fds would close 3, 4, ... after a
        # preexec_fn made them: the copies are made there and close_fds is off, which
        # is safe because every descriptor of the daemon's is close-on-exec.
        extra["preexec_fn"] = _listen_fds_then(None, listen_fds)
    if limits_in_child(program.limits):
        # Only for a program with limits: without them the daemon never loads config/limits.py
        # (config_convert.later) nor this.
        from supervisord_lite.linux import rlimits

        reason_r, reason_w = os.pipe()  # close-on-exec: the program never sees it
        limits_fn = _limits_then_user(rlimits, program.limits, user_kwargs, reason_w)
        extra = {"preexec_fn": _listen_fds_then(limits_fn, listen_fds) if listen_fds else limits_fn}
    try:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin_fd is None else stdin_fd,
            stdout=subprocess.DEVNULL if stdout_w is None else stdout_w,
            stderr=stderr_target,
            cwd=program.directory,
            env=env,
            umask=program.umask,
            start_new_session=True,  # own session and process group: killpg reaches it all
            close_fds=not listen_fds,
            restore_signals=True,
            **extra,
        )
    except subprocess.SubprocessError as exc:
        reason = ""
        if reason_w >= 0:
            os.close(reason_w)
            reason_w = -1
            # The child has exited (Popen reaped it) after writing its reason, or none.
            reason = os.read(reason_r, 4096).decode(errors="replace")
        raise ValueError(reason or str(exc)) from None  # spawn() makes it a SpawnError
    finally:
        for fd in (reason_r, reason_w):
            if fd >= 0:
                os.close(fd)
    # We keep only the pid (a Popen object per child is memory for nothing) and reap it
    # ourselves. Marking it finished stops Popen.__del__ from polling it with waitpid, or
    # queueing it for subprocess._cleanup() to reap behind the supervisor's back.
    popen.returncode = 0
    return popen.pid


def _listen_fds_then(then, listen_fds):
    """A preexec_fn: held sockets onto 3, 4, ... (inheritable), then `then` if any."""

    def in_child() -> None:
        for i, fd in enumerate(listen_fds):
            os.dup2(fd, 3 + i, inheritable=True)
        if then is not None:
            then()

    return in_child


def _limits_then_user(rlimits, settings, user_kwargs: dict, reason_w: int):
    """The preexec_fn of a program with limits: apply them, then switch user."""

    def in_child() -> None:
        try:
            rlimits.apply(settings)
        except rlimits.LimitError as exc:
            os.write(reason_w, str(exc).encode()[:4096])
            raise
        if user_kwargs:
            os.setgroups(user_kwargs["extra_groups"])
            os.setgid(user_kwargs["group"])
            os.setuid(user_kwargs["user"])

    return in_child
