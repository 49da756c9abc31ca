"""A real OpenSSH server on 127.0.0.1 for the many-hosts tests: a throwaway host key, a
throwaway client key as the only authorized key, and an ssh config for the client (its
host aliases all lead to this sshd; `down` leads to a closed port). Killed, with every
session process it forked, on teardown."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from integration.harness import SESSION_TOKEN, free_port

SSHD = "/usr/sbin/sshd"
SSH = shutil.which("ssh")


def available() -> bool:
    return os.access(SSHD, os.X_OK) and SSH is not None and shutil.which("ssh-keygen") is not None


class Sshd:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sdl-sshd-", dir="/tmp")).resolve()
        self.port = free_port()
        self.closed_port = free_port()  # nobody listens there: the `down` host
        self.ssh_config = self.dir / "ssh_config"
        self.log = self.dir / "sshd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def ssh_command(self) -> str:
        """$SUPERVISORCTL_LITE_SSH for the ctl."""
        return f"{SSH} -F {self.ssh_config}"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, "SUPERVISORCTL_LITE_SSH": self.ssh_command}

    def start(self) -> None:
        for key in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / key)],
                check=True,
                stdin=subprocess.DEVNULL,
            )
        if os.geteuid() == 0:
            # sshd run by root insists on its privilege separation directory, which the
            # openssh-server package creates only when its own service starts
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        config = self.dir / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\n"
            f"HostKey {self.dir / 'host_key'}\n"
            f"AuthorizedKeysFile {self.dir / 'client_key.pub'}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nAllowStreamLocalForwarding yes\n"
            "PermitRootLogin prohibit-password\nMaxStartups 100\nMaxSessions 100\n"
        )
        self.ssh_config.write_text(
            f"Host down\n  Port {self.closed_port}\n"
            f"Host *\n  HostName 127.0.0.1\n  Port {self.port}\n"
            f"  User {getpass.getuser()}\n"
            f"  IdentityFile {self.dir / 'client_key'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.dir / 'known_hosts'}\n"
            "  StrictHostKeyChecking accept-new\n  LogLevel ERROR\n"
        )
        env = {**os.environ, "SDL_TEST_SESSION": SESSION_TOKEN}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config), "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        self._wait_listening()

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"sshd exited: {self.log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)  # nothing to wait on but the port
        raise AssertionError(f"sshd not listening within {timeout}s: {self.log.read_text()}")

    def sessions(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """sshd and every session it forked (they outlive the listener)."""
        if self.proc is None:
            return
        doomed = self.sessions()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        for p in doomed:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(doomed, timeout=5)
        self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def run_ctl(
    args: list[str], env: dict[str, str], timeout: float = 30.0
) -> subprocess.CompletedProcess:
    """The ctl in a session of its own, so that its workers and their ssh children are
    killed with it even when it hangs."""
    from integration.harness import CTL_CMD

    proc = subprocess.Popen(
        [*CTL_CMD, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
