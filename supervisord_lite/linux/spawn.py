"""The only place that creates children (Popen's way lives in spawn_popen.py).

Most programs start through `os.posix_spawn` (glibc: clone(CLONE_VM|CLONE_VFORK) +
exec, no page-table copy): it costs the daemon about a third of the CPU of
`subprocess.Popen` per child (docs/benchmarks.md), which is what a crash storm or a
thousand programs at start-up spend their time on. posix_spawn cannot change user or
directory, so programs with `user`, `directory` or `[limits]` go through Popen
(spawn_popen.py); only they pay its fork.
"""

from __future__ import annotations

import os
import pwd
import signal

from supervisord_lite.base.log import log
from supervisord_lite.config.env_file import read_env_files
from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.linux.exec_path import resolve_executable, spawn_executable
from supervisord_lite.linux.pid_env import OWN_PID, through_shell
from supervisord_lite.linux.spawn_popen import limits_in_child, popen_spawn
from supervisord_lite.linux.spawner import FROM_FD, Spawner, children_come_back

# systemd's notify and watchdog variables address the daemon, not its programs: a
# program that found them would send READY=1 or WATCHDOG=1 on our behalf.
_DAEMON_ONLY_ENV = frozenset(
    {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"}
)


class SpawnError(Exception):
    """The child could not be started; the message is the OS's reason, for `status`."""


class Child:
    """A started child: its pid and our read ends of its pipes (None for "none" logs),
    and the write end of its stdin when it has a pipe there (`stdin = true`, an event
    listener)."""

    __slots__ = ("pid", "stdout_fd", "stderr_fd", "stdin_fd")

    def __init__(self, pid: int, stdout_fd: int | None, stderr_fd: int | None,
                 stdin_fd: int | None = None):  # fmt: skip
        self.pid = pid
        self.stdout_fd = stdout_fd  # non-blocking
        self.stderr_fd = stderr_fd
        self.stdin_fd = stdin_fd  # non-blocking; the daemon closes it when the child exits


def spawn(*args, **kwargs) -> Child:
    """Start one process of a program, both halves at once (begin_spawn's arguments).
    Raises SpawnError with the OS's reason."""
    return finish_spawn(begin_spawn(*args, **kwargs))


class PendingSpawn:
    """A spawn a helper has been asked for (spawner.py): finish_spawn claims its pid.
    It keeps the child's ends of the pipes open until then, for a fallback."""

    __slots__ = ("program", "argv", "env", "stdio", "read_fds", "child_fds", "pipes", "ticket",
                 "pid")  # fmt: skip

    def __init__(self, program, argv, env, stdio, read_fds, child_fds, pipes):
        self.program = program
        self.argv = argv
        self.env = env
        self.stdio = stdio  # the child's (stdin, stdout, stderr) write side, None: /dev/null
        self.read_fds = read_fds  # ours: closed if the spawn fails
        self.child_fds = child_fds  # the child's: closed once it started or failed
        self.pipes = pipes  # (stdout read end, stderr read end, stdin write end)
        self.ticket: int | None = None  # the helper's, while it spawns it
        self.pid: int | None = None


def begin_spawn(
    program: ProgramConfig,
    index: int,
    capture_stdout: bool,
    capture_stderr: bool,
    extra_env: dict[bytes, bytes] | None = None,
    listen_fds: list[int] | None = None,
    stdin_fd: int | None = None,
    stdin_pipe: bool = False,
) -> PendingSpawn:
    """Start one process of `program`, or hand it to the spawn helper (then
    PendingSpawn.ticket is set: a burst prepares the next program while the helper starts
    this one); finish_spawn() must follow, always. The child gets its own session, no
    shell, no inherited descriptors but its stdio and, in order from fd 3, `listen_fds`
    (held sockets, each above any fd it is copied onto: held_sockets.FD_FLOOR).

    capture_* say whether to give the child a pipe (read by the daemon) or /dev/null;
    stdin_fd goes on fd 0 instead of /dev/null; stdin_pipe: a pipe the daemon writes does
    (Child.stdin_fd, an event listener's). With redirect_stderr, stderr shares the stdout
    pipe. Raises SpawnError with the OS's reason.

    One function, a little over the house's length on purpose: it runs for every start
    and restart (a crash storm is made of it), and the pipes it opens are closed on
    every way out from the one frame that knows them.
    """
    # Bytes throughout: Popen encodes every str key and value on every spawn (a fifth of
    # a spawn's CPU in a crash storm); bytes pass through. One type, so no variable can
    # appear twice (once as str, once as bytes).
    env = dict(_program_base_environment())
    if program.env_file:  # read at each spawn, as systemd does; `environment` wins
        env.update((_b(k), _b(v)) for k, v in _read_env_files(program).items())
    env.update((_b(k), _b(v)) for k, v in program.environment)
    # As supervisord sets them: the name within the group, the group, the process_num.
    env[b"SUPERVISOR_PROCESS_NAME"] = _b(program.short_name(index))
    env[b"SUPERVISOR_GROUP_NAME"] = _b(program.group)
    env[b"SUPERVISOR_PROCESS_NUM"] = b"%d" % program.process_num(index)
    argv = list(program.command)
    if extra_env:  # NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID of an sd_notify program
        env.update(extra_env)
        own_pid = [name for name, value in extra_env.items() if value is OWN_PID]
        if own_pid:  # pid_env.py: set to the child's pid by a shell before the exec
            for name in own_pid:
                del env[name]
            try:
                argv = through_shell(own_pid, argv, resolve_executable(argv[0], env))
            except OSError as exc:
                raise SpawnError(_describe(exc, program)) from None
    user_kwargs = _user_kwargs(program.user, env)

    read_fds: list[int] = []
    child_fds: list[int] = []

    def pipe() -> tuple[int, int]:
        r, w = os.pipe()  # both ends close-on-exec; the child gets the write end as 1/2
        read_fds.append(r)
        child_fds.append(w)
        os.set_blocking(r, False)
        return r, w

    stdout_r = stdout_w = stderr_r = stderr_w = stdin_r = stdin_w = None
    pending = None
    try:
        if program.stdin or stdin_pipe:
            stdin_r, stdin_w = os.pipe()  # the child reads fd 0; we write, never blocking
            child_fds.append(stdin_r)
            read_fds.append(stdin_w)  # ours: closed with the read ends if the spawn fails
            os.set_blocking(stdin_w, False)
        if capture_stdout:
            stdout_r, stdout_w = pipe()
        if program.redirect_stderr:
            stderr_w = stdout_w
        elif capture_stderr:
            stderr_r, stderr_w = pipe()
        if stdin_r is not None:  # a pipe of ours, not a held socket, is fd 0
            stdin_fd = stdin_r
        pending = PendingSpawn(
            program, argv, env, (stdin_fd, stdout_w, stderr_w), read_fds, child_fds,
            (stdout_r, stderr_r, stdin_w),
        )  # fmt: skip
        if user_kwargs or program.directory is not None or limits_in_child(program.limits):
            pending.pid = popen_spawn(
                program, argv, env, stdout_w, stderr_w, user_kwargs, (stdin_fd, listen_fds or ())
            )
        else:
            _note_table_size(child_fds)
            if _spawner is not None and _table_high >= FROM_FD and not listen_fds:
                pending.ticket = _ask_helper(pending)
            if pending.ticket is None:
                pending.pid = _posix_spawn(program, argv, env, pending.stdio, listen_fds or ())
    except OSError as exc:
        _close_all(read_fds, child_fds)
        raise SpawnError(_describe(exc, program)) from None
    except ValueError as exc:  # popen_spawn turns subprocess's own errors into these
        _close_all(read_fds, child_fds)
        raise SpawnError(str(exc)) from None
    if pending.ticket is None:
        for fd in child_fds:
            os.close(fd)
    return pending


def finish_spawn(pending: PendingSpawn) -> Child:
    """spawn()'s second half: the started child, its pid claimed from the helper if one
    spawns it (or spawned here if the helper failed). Raises SpawnError."""
    if pending.ticket is not None:
        ticket, pending.ticket = pending.ticket, None
        try:
            pid = _spawner.collect(ticket) if _spawner is not None else None
            if pid is None:  # the helper failed before answering: here, then
                pid = _posix_spawn(pending.program, pending.argv, pending.env, pending.stdio, ())
        except OSError as exc:
            _close_all(pending.read_fds, pending.child_fds)
            raise SpawnError(_describe(exc, pending.program)) from None
        _close_all((), pending.child_fds)
        pending.pid = pid
    stdout_r, stderr_r, stdin_w = pending.pipes
    return Child(pending.pid, stdout_r, stderr_r, stdin_w)


def _close_all(ours, theirs) -> None:
    for fd in (*ours, *theirs):
        os.close(fd)


def _readable_by(user: str):
    """A may_read for env_file: the daemon reads as root, so a file the program's user
    could not read itself (a symlink it planted to /etc/shadow, a root-only secret) is
    refused rather than handed over in its environment."""
    try:
        entry = pwd.getpwnam(user)
        groups = set(os.getgrouplist(user, entry.pw_gid))
    except (KeyError, OSError):
        return lambda info: f"user {user!r} is unknown"

    def may_read(info: os.stat_result) -> str | None:
        mode = info.st_mode
        if (
            entry.pw_uid == 0
            or mode & 0o004
            or (info.st_uid == entry.pw_uid and mode & 0o400)
            or (info.st_gid in groups and mode & 0o040)
        ):
            return None
        return f"user {user!r} may not read it (the program runs as {user})"

    return may_read


def _read_env_files(program: ProgramConfig) -> dict[str, str]:
    """The program's env files merged (later wins); a required one that cannot be read
    is a spawn error naming it. Small bounded reads (env_file.MAX_FILE_BYTES) of regular
    files only: a FIFO or a device cannot hold the loop."""
    check = _readable_by(program.user) if program.user is not None else None
    loaded = read_env_files(list(program.env_file), may_read=check)
    for warning in loaded.warnings:
        log.warning("%s: env_file: %s", program.name, warning)
    if loaded.errors:
        raise SpawnError("env_file: " + "; ".join(loaded.errors))
    return loaded.environment


# Python ignores these two; a child must start with them at their defaults, as Popen's
# restore_signals does. Every handled signal resets to default at exec by itself. (glibc's
# posix_spawn leaves its own two reserved signals, 32 and 33, ignored in the child: no
# program may use them, and glibc's start-up in the child takes them over again.)
_RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
_RESTORED_NUMBERS = tuple(int(s) for s in _RESTORED_SIGNALS)  # for the spawn helper
_devnull_fd = -1
_table_high = 0  # the highest descriptor a spawn has made lately: the table's size
_spawner: Spawner | None = None


def _note_table_size(new_fds: list[int]) -> None:
    """The newest descriptors say how large our table is (the kernel hands out the
    lowest free number): a program without pipes spawns at the last size seen."""
    global _table_high
    if new_fds:
        _table_high = max(new_fds)


def use_spawner(loop) -> None:
    """Spawn through a helper while our descriptor table is large (spawner.py): the
    daemon's engine asks for it; anything else spawning (a test) does it itself."""
    global _spawner
    if children_come_back():  # the daemon made itself a child subreaper (or is PID 1)
        _spawner = Spawner(loop, lambda argv, stdin_fd: spawn_helper(argv, stdin_fd=stdin_fd))
    else:
        _spawner = None


def no_spawner() -> None:
    """Cgroup tracking: a child must be born in the cgroup the daemon joins for it
    (cgroups.py), not in a helper's."""
    global _spawner
    if _spawner is not None:
        _spawner.retire()
    _spawner = None


def retire_spawner() -> None:
    """Before the daemon execs itself: whatever a helper started must be ours first."""
    if _spawner is not None:
        _spawner.retire()


def _devnull() -> int:
    global _devnull_fd
    if _devnull_fd < 0:
        _devnull_fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return _devnull_fd


def _stdio_fds(stdio) -> list[int]:
    """The child's 0, 1, 2: the given descriptors, /dev/null where None."""
    null = _devnull()
    return [null if fd is None else fd for fd in stdio]


def _ask_helper(pending: PendingSpawn) -> int | None:
    """The helper's ticket for this spawn, or None: it is not ready, or has no room."""
    env = pending.env
    # The three descriptors go as they are; the helper puts them on 0, 1, 2.
    return _spawner.submit(
        resolve_executable(pending.argv[0], env),
        pending.argv,
        env,
        _stdio_fds(pending.stdio),
        pending.program.umask,
        _RESTORED_NUMBERS,
    )


def _posix_spawn(program: ProgramConfig, argv: list[str], env: dict, stdio, listen_fds) -> int:
    """Own session, stdio from `stdio` (/dev/null where None; stdin may be a held socket),
    held sockets onto 3, 4, ... (dup2 clears close-on-exec on the copy).

    Descriptors: the daemon opens all of its own close-on-exec, and marks any it
    inherited close-on-exec at start-up (cloexec_inherited_fds), so only 0, 1, 2 reach
    the child, as with Popen's close_fds.
    """
    null = _devnull_fd if _devnull_fd >= 0 else _devnull()
    stdin_fd, stdout_fd, stderr_fd = stdio
    actions = [
        (os.POSIX_SPAWN_DUP2, null if stdin_fd is None else stdin_fd, 0),
        (os.POSIX_SPAWN_DUP2, null if stdout_fd is None else stdout_fd, 1),
        (os.POSIX_SPAWN_DUP2, null if stderr_fd is None else stderr_fd, 2),
    ]
    if listen_fds:
        actions += [(os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(listen_fds)]
    # The child inherits the umask at clone time. The daemon is single-threaded, so
    # nothing else creates a file while its umask is briefly the program's.
    old_umask = os.umask(program.umask)
    try:
        return spawn_executable(
            argv,
            env,
            file_actions=actions,
            setsid=True,
            setsigmask=(),
            setsigdef=_RESTORED_SIGNALS,
        )
    finally:
        os.umask(old_umask)


def spawn_helper(argv: list[str], stdin_fd: int | None = None, stdout_fd: int | None = None) -> int:
    """Start a command the daemon itself runs (an alert's `exec`, a name lookup): own
    session, the daemon's environment, stdin/stdout from the given descriptors (else
    /dev/null), stderr to /dev/null. Its exit is the reaper's, like a program's.
    Raises OSError (e.g. FileNotFoundError) when it cannot start."""
    stdio = _stdio_fds((stdin_fd, stdout_fd, None))
    actions = [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(stdio)]
    return spawn_executable(
        list(argv),
        dict(_base_environment()),
        file_actions=actions,
        setsid=True,
        setsigmask=(),
        setsigdef=_RESTORED_SIGNALS,
    )


def spawn_helper_reading(argv: list[str]) -> tuple[int, int]:
    """spawn_helper with its stdout on a pipe: (pid, our non-blocking read end), for the
    loop to read. Raises OSError when it cannot start (nothing is left open then)."""
    r, w = os.pipe()
    try:
        pid = spawn_helper(argv, stdout_fd=w)
    except OSError:
        os.close(r)
        raise
    finally:
        os.close(w)
    os.set_blocking(r, False)
    return pid, r


def cloexec_inherited_fds() -> None:
    """Mark every descriptor above 2 close-on-exec: whatever the daemon inherited from
    whoever started it (a shell, a test harness, a leaky init) must not reach programs.
    The daemon's own descriptors are close-on-exec from birth (PEP 446)."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: fall back to the usual range
        fds = list(range(3, 256))
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # closed meanwhile (the listdir's own descriptor)


_base_env: dict[bytes, bytes] | None = None
_program_env: dict[bytes, bytes] | None = None
_b = os.fsencode


def _base_environment() -> dict[bytes, bytes]:
    """The daemon's environment minus its own variables, encoded, built once: the daemon
    never changes os.environ, and rebuilding it (decoding every variable) was 3% of a spawn."""
    global _base_env
    if _base_env is None:
        skip = {_b(k) for k in _DAEMON_ONLY_ENV}
        _base_env = {k: v for k, v in os.environb.items() if k not in skip}
    return _base_env


def _program_base_environment() -> dict[bytes, bytes]:
    """What every program starts from: the base environment and, as supervisord sets it
    before the program's own `environment` (which may override it), SUPERVISOR_ENABLED=1:
    supervisor.childutils and scripts check it to know they run under a supervisor."""
    global _program_env
    if _program_env is None:
        _program_env = {**_base_environment(), b"SUPERVISOR_ENABLED": b"1"}
    return _program_env


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
