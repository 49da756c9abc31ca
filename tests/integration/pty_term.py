"""A program run on a real pseudo-terminal, its screen read by pyte (a VT100 emulator):
for `supervisorctl-lite top`'s tests, benchmark and screenshot.

The child gets the pty's slave as its controlling terminal (so Ctrl-C written to the
master is a SIGINT, as from a keyboard), every byte it writes is kept (to check what it
left the terminal in) and fed to the emulated screen."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time

import pyte

from integration.harness import wait_until


def _controlling_tty() -> None:  # in the child, after setsid (start_new_session)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Term:
    def __init__(self, argv: list[str], env: dict[str, str], cols: int = 120, rows: int = 36):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.termios_before = termios.tcgetattr(self.slave)
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.proc = subprocess.Popen(
            argv,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env={**env, "TERM": "xterm-256color"},
            start_new_session=True,
            preexec_fn=_controlling_tty,
        )

    def pump(self, timeout: float = 0.0) -> None:
        """Read whatever the program wrote (waiting up to `timeout` for the first bytes)."""
        while select.select([self.master], [], [], timeout)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave end closed
                return
            if not data:
                return
            self.raw += data
            self.stream.feed(data)
            timeout = 0.0

    def text(self) -> str:
        self.pump(0.05)
        return "\n".join(self.screen.display)

    def line_of(self, word: str) -> str | None:
        """The first screen line starting with `word` (a row of top's table; with
        hosts, its second word)."""
        for line in self.text().splitlines():
            if word in line.split()[:2]:
                return line
        return None

    def wait_for(self, predicate, timeout: float = 15.0, what: str = ""):
        return wait_until(predicate, timeout, message=lambda: f"{what}; screen:\n{self.text()}")

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_exit(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.05)
        code = self.proc.wait(max(0.1, deadline - time.monotonic()))
        self.pump(0.1)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- what the program left the terminal in -----------------------------------------

    def restored(self) -> list[str]:
        """What is not as it was before the program ran: [] when all is back."""
        raw = bytes(self.raw)
        wrong = []
        if raw.rfind(b"\x1b[?1049h") > raw.rfind(b"\x1b[?1049l"):
            wrong.append("still on the alternate screen")
        if raw.rfind(b"\x1b[?25l") > raw.rfind(b"\x1b[?25h"):
            wrong.append("cursor still hidden")
        if termios.tcgetattr(self.slave) != self.termios_before:
            wrong.append("termios settings changed")
        return wrong

    def after_screen(self) -> str:
        """What the program wrote after leaving the alternate screen (its last words)."""
        raw = bytes(self.raw)
        cut = raw.rfind(b"\x1b[?1049l")
        return raw[cut + 8 :].decode(errors="replace") if cut >= 0 else ""
