"""The ctl's road to a daemon on another host: the user's own OpenSSH forwarding a
private local Unix socket to the remote daemon's socket (`ssh -N -L LOCAL:REMOTE`),
run and waited for (SshTunnel), and the connection through it (SshConnection). The
target and the ssh command line are base/ssh.py's, shared with the daemon's [http] hosts.

Why -L and not `ssh -W /remote.sock`: -W reaches Unix sockets only since OpenSSH 9.5
(before, it parses the path and then silently forwards nothing: Debian 12's 9.2 hangs),
while -L LOCAL_PATH:REMOTE_PATH works since 6.7 on both ends. The local end is a socket
in a fresh 0700 directory, so no other local user can use the tunnel. The tunnel's
readiness is ssh's own LocalCommand (run once the connection is up and the forward
listens), not a poll for the socket file.

Imported only for -H/--hosts: subprocess and tempfile cost the single-host ctl nothing.
"""

from __future__ import annotations

import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

from supervisord_lite.base.ssh import READY_WORD, Target, ssh_command, ssh_last_words, tunnel_argv
from supervisord_lite.ctl.client import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    Connection,
    Unreachable,
)


class SshTunnel:
    """An `ssh -N -L` child forwarding a private local socket to target.path. Raises
    Unreachable, with ssh's own words, when it cannot be set up."""

    def __init__(self, target: Target, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT):
        self.target = target
        self.connect_timeout = connect_timeout
        self.dir = tempfile.mkdtemp(prefix="sdl-ssh-")  # 0700: ours alone
        self.local = os.path.join(self.dir, "fwd.sock")
        self.stderr_path = os.path.join(self.dir, "ssh.err")
        with open(self.stderr_path, "wb") as err:  # a file: ssh can never block on it
            self.proc = subprocess.Popen(
                tunnel_argv(target, self.local, connect_timeout),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        try:
            self._wait_ready(connect_timeout + 5)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        seen = b""
        while READY_WORD not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise Unreachable(f"ssh {self.target.destination}: no answer in {timeout:g} s")
            data = os.read(fd, 4096)
            if not data:
                raise Unreachable(self.failure("ssh could not connect"))
            seen += data

    def ssh_stderr(self) -> str:
        return ssh_last_words(self.stderr_path)

    def failure(self, fallback: str) -> str:
        """Why the tunnel failed, waiting briefly for ssh to say it."""
        try:
            self.proc.wait(1)
        except subprocess.TimeoutExpired:
            pass
        return self.ssh_stderr() or f"{fallback} (ssh exit {self.proc.returncode})"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# Run by the remote user's shell: what is at the socket's path, in one word.
_REMOTE_CHECK = (
    "if [ -S {path} ]; then echo socket; elif [ -e {path} ]; then echo other; "
    "elif [ -d {parent} ]; then echo missing; else echo nodir; fi"
)


def remote_socket_problem(target: Target, connect_timeout: float) -> str:
    """Why a tunnel's stream closed before any reply, asked of the remote host itself
    over ssh: the remote sshd tells its client only "open failed" when the forwarded
    socket cannot be opened, whatever the reason. "" when ssh cannot say."""
    path = target.path
    argv = ssh_command() + ["-T", "-o", "BatchMode=yes"]
    argv += ["-o", f"ConnectTimeout={max(1, round(connect_timeout))}", "--", target.destination]
    argv.append(
        _REMOTE_CHECK.format(path=shlex.quote(path), parent=shlex.quote(os.path.dirname(path)))
    )
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=connect_timeout + 5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = done.stdout.decode(errors="replace").split()
    text = _REMOTE_WORDS.get(lines[-1] if lines else "", "")
    return text.format(path=path, host=target.destination, parent=os.path.dirname(path))


_REMOTE_WORDS = {
    "socket": "nothing accepts connections on {path} on {host} (a stale socket: is the "
    "daemon running?)",
    "other": "{path} on {host} is not a socket",
    "missing": "there is no socket {path} on {host}: is the daemon running, and is that "
    "its socket? (name it as HOST:/PATH or with -s)",
    "nodir": "there is no directory {parent} on {host}",
}


class SshConnection(Connection):
    """A Connection to a remote daemon through an SshTunnel: the same JSON-lines
    protocol over the forwarded socket. The tunnel opens the remote socket only when
    the first byte is sent, so a missing socket or a refused uid shows as the stream
    ending before any reply: that is Unreachable here, with ssh's reason."""

    def __init__(
        self,
        target: Target,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        timeout: float | None = DEFAULT_TIMEOUT,
    ):
        self.tunnel = SshTunnel(target, connect_timeout)
        try:
            super().__init__(self.tunnel.local, timeout)
        except Unreachable:
            reason = self.tunnel.failure("the ssh tunnel closed")
            self.tunnel.close()
            raise Unreachable(reason) from None
        self.replied = False

    def receive(self) -> dict | None:
        reply = super().receive()
        if reply is None and not self.replied:
            raise Unreachable(self.closed_reason())
        self.replied = True
        return reply

    def closed_reason(self) -> str:
        target = self.tunnel.target
        remote = f"{target.destination}:{target.path}"
        # ssh notes a failed channel open on stderr a moment after closing the socket
        deadline = time.monotonic() + 0.5
        said = self.tunnel.ssh_stderr()
        while not said and time.monotonic() < deadline and self.tunnel.proc.poll() is None:
            time.sleep(0.02)
            said = self.tunnel.ssh_stderr()
        why = "" if self.replied else remote_socket_problem(target, self.tunnel.connect_timeout)
        if why:
            return f"cannot reach {remote}: {why}"
        return f"the daemon at {remote} closed the connection" + (f" ({said})" if said else "")

    def wait_gone(self, timeout: float, pid: int | None = None) -> None:
        """The remote socket and process cannot be watched from here: the closed stream
        says it."""

    def close(self) -> None:
        super().close()
        self.tunnel.close()
