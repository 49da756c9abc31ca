"""The only place that creates children.

Spawning goes through `subprocess.Popen`, whose C fork/exec costs the same whatever
the daemon's size; no `preexec_fn` (it would run Python between fork and exec).
"""

from __future__ import annotations

import os
import pwd
import subprocess

from supervisord_lite.config import ProgramConfig

# systemd's notify and watchdog variables address the daemon, not its programs: a
# program that found them would send READY=1 or WATCHDOG=1 on our behalf.
_DAEMON_ONLY_ENV = frozenset(
    {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"}
)


class SpawnError(Exception):
    """The child could not be started; the message is the OS's reason, for `status`."""


class Child:
    """A started child: its pid and our read ends of its pipes (None for "none" logs)."""

    __slots__ = ("pid", "stdout_fd", "stderr_fd")

    def __init__(self, pid: int, stdout_fd: int | None, stderr_fd: int | None):
        self.pid = pid
        self.stdout_fd = stdout_fd  # non-blocking
        self.stderr_fd = stderr_fd


def spawn(
    program: ProgramConfig,
    process_num: int,
    capture_stdout: bool,
    capture_stderr: bool,
) -> Child:
    """Start one process of `program`: own session, no shell, no inherited descriptors.

    capture_* say whether to give the child a pipe (read by the daemon) or /dev/null.
    With redirect_stderr, stderr shares the stdout pipe.
    """
    # Bytes throughout: Popen encodes every str key and value on every spawn (a fifth of
    # a spawn's CPU in a crash storm); bytes pass through. One type, so no variable can
    # appear twice (once as str, once as bytes).
    env = dict(_base_environment())
    env.update((_b(k), _b(v)) for k, v in program.environment)
    env[b"SUPERVISOR_PROCESS_NAME"] = _b(program.process_names()[process_num])
    env[b"SUPERVISOR_PROCESS_NUM"] = b"%d" % process_num
    user_kwargs = _user_kwargs(program.user, env)

    read_fds: list[int] = []
    child_fds: list[int] = []

    def pipe() -> tuple[int, int]:
        r, w = os.pipe()  # both ends close-on-exec; Popen dup2()s the write end to 1/2
        read_fds.append(r)
        child_fds.append(w)
        os.set_blocking(r, False)
        return r, w

    stdout_r = stdout_w = stderr_r = stderr_w = None
    try:
        if capture_stdout:
            stdout_r, stdout_w = pipe()
        if program.redirect_stderr:
            stderr_target = subprocess.STDOUT if capture_stdout else subprocess.DEVNULL
        elif capture_stderr:
            stderr_r, stderr_w = pipe()
            stderr_target = stderr_w
        else:
            stderr_target = subprocess.DEVNULL
        popen = subprocess.Popen(
            list(program.command),
            stdin=subprocess.DEVNULL,
            stdout=stdout_w if stdout_w is not None else subprocess.DEVNULL,
            stderr=stderr_target,
            cwd=program.directory,
            env=env,
            umask=program.umask,
            start_new_session=True,  # own session and process group: killpg reaches it all
            close_fds=True,
            restore_signals=True,
            **user_kwargs,
        )
    except OSError as exc:
        for fd in read_fds:
            os.close(fd)
        raise SpawnError(_describe(exc, program)) from None
    except (subprocess.SubprocessError, ValueError) as exc:
        for fd in read_fds:
            os.close(fd)
        raise SpawnError(str(exc)) from None
    finally:
        for fd in child_fds:
            os.close(fd)
    # We keep only the pid (a Popen object per child is memory for nothing) and reap it
    # ourselves. Marking it finished stops Popen.__del__ from polling it with waitpid, or
    # queueing it for subprocess._cleanup() to reap behind the supervisor's back.
    popen.returncode = 0
    return Child(popen.pid, stdout_r, stderr_r)


_base_env: dict[bytes, bytes] | None = None
_b = os.fsencode


def _base_environment() -> dict[bytes, bytes]:
    """The daemon's environment minus its own variables, encoded, built once: the daemon
    never changes os.environ, and rebuilding it (decoding every variable) was 3% of a spawn."""
    global _base_env
    if _base_env is None:
        skip = {_b(k) for k in _DAEMON_ONLY_ENV}
        _base_env = {k: v for k, v in os.environb.items() if k not in skip}
    return _base_env


def _user_kwargs(user: str | None, env: dict) -> dict:
    """Switch uid, gid and supplementary groups, and set HOME/USER/LOGNAME like supervisord."""
    if user is None:
        return {}
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SpawnError(f"unknown user {user!r}") from None
    env[b"HOME"] = _b(entry.pw_dir)
    env[b"USER"] = env[b"LOGNAME"] = _b(entry.pw_name)
    if os.geteuid() != 0:
        if entry.pw_uid == os.geteuid():
            return {}
        raise SpawnError(f"cannot switch to user {user!r}: the daemon is not running as root")
    return {
        "user": entry.pw_uid,
        "group": entry.pw_gid,
        "extra_groups": os.getgrouplist(entry.pw_name, entry.pw_gid),
    }


def _describe(exc: OSError, program: ProgramConfig) -> str:
    """The OS's reason, naming the file it concerns: `/usr/bin/gunicron: No such file...`."""
    reason = exc.strerror or str(exc)
    filename = exc.filename
    if filename is None:
        return reason
    if program.directory and filename == program.directory:
        return f"directory {filename}: {reason}"
    return f"{filename}: {reason}"
