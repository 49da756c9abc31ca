"""The listening sockets the daemon holds for its programs (`[sockets.NAME]`,
docs/zero-downtime.md).

The daemon binds each socket a loaded program names and keeps it open across every
restart of those programs: connections queue in the kernel while no program accepts,
so none is refused. A child gets its sockets as fds 3, 4, ... with systemd's
LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID (sd_listen_fds(3)), or one on fd 0
(`stdin_socket`, Supervisor's fcgi-program).

The registry's interface, for whoever needs the sockets across an exec (`reexec`):
`held()` is {name: fd} of every socket held now (close-on-exec: clear it to pass one
on); `adopt({name: fd})` takes such fds back in the new image before its first
`prepare`, which then keeps each one whose address is still wanted instead of binding
it again (a held socket never closes, so no connection is refused across the exec).

A socket stays blocking: its open file description is shared with the children, which
accept on it; the daemon itself never accepts.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import socket
import stat

from supervisord_lite.config.sockets import SocketConfig, used_sockets
from supervisord_lite.linux.pid_env import OWN_PID

# Held fds live at or above this number, so that handing a child its sockets (dup2 onto
# 3, 4, ...) never overwrites one of them before it is copied: a program may name at
# most FD_FLOOR - 3 sockets (config/sockets.py MAX_PER_PROGRAM).
FD_FLOOR = 67


class BindError(Exception):
    """Some sockets could not be bound: `errors` says which and why, one line each."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class HeldSocket:
    """One bound, listening socket and the config it was bound for."""

    __slots__ = ("config", "sock", "inode")

    def __init__(self, config: SocketConfig, sock: socket.socket, inode: tuple | None):
        self.config = config
        self.sock = sock
        self.inode = inode  # (st_dev, st_ino) of a unix socket's file: unlinked only if ours

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        if self.config.family == "unix" and self.inode is not None:
            try:
                st = os.lstat(self.config.path)
                if (st.st_dev, st.st_ino) == self.inode:
                    os.unlink(self.config.path)
            except OSError:
                pass
        self.sock.close()


class Plan:
    """A prepared change: the sockets a config holds, and those it lets go."""

    __slots__ = ("keep", "fresh", "drop")

    def __init__(self, keep: dict[str, HeldSocket], fresh: list[HeldSocket], drop: list):
        self.keep = keep  # name -> held socket, for the new config
        self.fresh = fresh  # bound by this plan (closed again if it is aborted)
        self.drop = drop  # held now and not wanted (closed when it is committed)


class SocketRegistry:
    """The held sockets by name."""

    def __init__(self) -> None:
        self.sockets: dict[str, HeldSocket] = {}
        self._adopted: dict[str, socket.socket] = {}

    # -- the interface reexec uses -------------------------------------------------

    def held(self) -> dict[str, int]:
        """Every held socket's fd by name (close-on-exec)."""
        return {name: held.fileno() for name, held in self.sockets.items()}

    def adopt(self, fds: dict[str, int]) -> None:
        """Take over sockets a previous image held ({name: fd}); the next prepare keeps
        each whose address is wanted and closes the rest."""
        for name, fd in fds.items():
            sock = socket.socket(fileno=_above_floor(fd))
            sock.set_inheritable(False)
            self._adopted[name] = sock

    # -- binding -------------------------------------------------------------------

    def prepare(self, programs) -> Plan:
        """Bind what the programs name and is not held yet; raise BindError naming each
        table that cannot be bound (nothing held changes then)."""
        wanted = used_sockets(programs)
        current = [*self.sockets.values(), *self._adopt_as_held()]
        keep: dict[str, HeldSocket] = {}
        fresh: list[HeldSocket] = []
        errors = []
        for name, config in wanted.items():
            found = next((h for h in current if h.config.same_bind(config)), None)
            if found is not None and found not in keep.values():
                keep[name] = _refresh(found, config)
                continue
            try:
                held = bind(config)
            except OSError as exc:
                errors.append(f"[sockets.{name}]: cannot listen on {config.listen}: {_why(exc)}")
                continue
            fresh.append(held)
            keep[name] = held
        if errors:
            for held in fresh:
                held.close()
            raise BindError(errors)
        taken = set(map(id, keep.values()))
        return Plan(keep, fresh, [h for h in current if id(h) not in taken])

    def commit(self, plan: Plan) -> None:
        self.sockets = plan.keep
        self._adopted.clear()
        for held in plan.drop:
            held.close()

    def apply(self, programs) -> None:
        """prepare and commit at once (start-up); raises BindError."""
        self.commit(self.prepare(programs))

    def close_all(self) -> None:
        for held in self.sockets.values():
            held.close()
        self.sockets = {}

    # -- handing over --------------------------------------------------------------

    def handover(self, program) -> tuple[list[int], int | None, dict[bytes, bytes]]:
        """What a child of `program` gets: the fds for 3, 4, ..., the fd for its stdin
        (or None), and the LISTEN_* variables. KeyError names a socket not held."""
        fds = [self.sockets[s.name].fileno() for s in program.sockets]
        stdin = program.stdin_socket
        stdin_fd = self.sockets[stdin.name].fileno() if stdin is not None else None
        env: dict[bytes, bytes] = {}
        if fds:
            names = ":".join(s.name for s in program.sockets)
            env[b"LISTEN_FDS"] = b"%d" % len(fds)
            env[b"LISTEN_FDNAMES"] = names.encode()
            env[b"LISTEN_PID"] = OWN_PID  # set to the child's pid by pid_env's trampoline
        return fds, stdin_fd, env

    def _adopt_as_held(self) -> list[HeldSocket]:
        adopted = []
        for name, sock in self._adopted.items():
            config = _config_of(name, sock)
            if config is not None:
                adopted.append(HeldSocket(config, sock, _inode(config)))
            else:
                sock.close()
        self._adopted = {}
        return adopted


def bind(config: SocketConfig) -> HeldSocket:
    """A listening socket for `config` (raises OSError)."""
    if config.family == "unix":
        return _bind_unix(config)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(config.address())
        sock.listen(config.backlog)
        return HeldSocket(config, _lift(sock), None)
    except OSError:
        sock.close()
        raise


def _bind_unix(config: SocketConfig) -> HeldSocket:
    path = config.path
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The file is created with its final mode (no chmod by path afterwards, which a
    # link swapped in by someone who can write the directory would redirect).
    old_umask = os.umask(~config.mode & 0o777)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    try:
        inode = _inode(config)
        if config.owner is not None:
            uid, gid = _owner_ids(config.owner)
            os.chown(path, uid, gid, follow_symlinks=False)
        sock.listen(config.backlog)
    except OSError:
        sock.close()
        raise
    return HeldSocket(config, _lift(sock), inode)


def _remove_stale(path: str) -> None:
    """A socket file nobody listens on (a dead daemon's) is removed; anything else at
    the path is left alone and refused by bind (EADDRINUSE)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(errno.EEXIST, "the path exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    except BlockingIOError:  # a live listener with a full queue
        pass
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "another process is listening on it")


def _refresh(held: HeldSocket, config: SocketConfig) -> HeldSocket:
    """A kept socket under its new settings: backlog, mode and owner apply in place."""
    old = held.config
    if config.backlog != old.backlog:
        held.sock.listen(config.backlog)
    if config.family == "unix" and (config.mode, config.owner) != (old.mode, old.owner):
        try:
            _set_file_mode(held, config)
        except (OSError, KeyError):
            pass  # kept as it was; the socket itself still works
    held.config = config
    return held


def _set_file_mode(held: HeldSocket, config: SocketConfig) -> None:
    """chmod/chown the socket's file, only if the path still names our inode: through an
    O_PATH descriptor, so a link swapped in at the path redirects nothing."""
    fd = os.open(config.path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != held.inode:
            return
        os.chmod(f"/proc/self/fd/{fd}", config.mode)
        if config.owner is not None:
            os.chown(f"/proc/self/fd/{fd}", *_owner_ids(config.owner))
    finally:
        os.close(fd)


def _owner_ids(owner: str) -> tuple[int, int]:
    user, _, group = owner.partition(":")
    entry = pwd.getpwnam(user)
    if not group:
        return entry.pw_uid, entry.pw_gid
    import grp  # only for a socket with an owner group

    return entry.pw_uid, grp.getgrnam(group).gr_gid


def _inode(config: SocketConfig) -> tuple | None:
    if config.family != "unix":
        return None
    try:
        st = os.lstat(config.path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _lift(sock: socket.socket) -> socket.socket:
    """The same socket on an fd >= FD_FLOOR (see there)."""
    if sock.fileno() >= FD_FLOOR:
        return sock
    lifted = socket.socket(fileno=fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, FD_FLOOR))
    sock.close()
    return lifted


def _above_floor(fd: int) -> int:
    if fd >= FD_FLOOR:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FD_FLOOR)
    os.close(fd)
    return new


def _config_of(name: str, sock: socket.socket) -> SocketConfig | None:
    """What an adopted socket is bound to, as a config to match wanted ones against."""
    try:
        address = sock.getsockname()
    except OSError:
        return None
    if sock.family == socket.AF_UNIX:
        path = address if isinstance(address, str) else os.fsdecode(address)
        return SocketConfig(name, f"unix://{path}", "unix", path=path)
    host, port = address[0], address[1]
    shown = f"[{host}]" if ":" in host else host
    return SocketConfig(name, f"tcp://{shown}:{port}", "tcp", host=host, port=port)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
