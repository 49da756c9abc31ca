"""A Ctrl-C that lands just before the ctl's wait blocks still ends a quiet stream.

Python runs a signal's handler between bytecodes: a signal the C handler caught after
the last check, just before select() blocked, was noticed only when select() returned,
which in a quiet `tail -f` or `fg` is never (seen once in CI: `fg` did not leave on
Ctrl-C). The same happens, every time, when the signal lands on another thread than the
one waiting: that is how this test makes the race certain instead of rare."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(30)

WAIT = textwrap.dedent(
    """
    import os, signal, socket, sys, threading, time
    from supervisord_lite.ctl.client import Connection

    path = sys.argv[1]
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    conn = Connection(path, timeout=None)
    conn.streaming = True  # a quiet stream: nothing is asked, nothing arrives
    if sys.argv[2] == "wake":
        conn.wake_on_signals()
    # Made before the main thread blocks SIGINT, so this thread takes it: its C handler
    # runs there, and nothing interrupts the main thread's select().
    threading.Thread(
        target=lambda: (time.sleep(0.3), os.kill(os.getpid(), signal.SIGINT)), daemon=True
    ).start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        conn.receive()
    except KeyboardInterrupt:
        print("left on Ctrl-C")
    """
)


def run_wait(tmp_path, mode: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(
            [sys.executable, "-c", WAIT, str(tmp_path / "s.sock"), mode],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except subprocess.TimeoutExpired:  # run() killed it
        return None


def test_a_signal_the_wait_did_not_see_arrive_still_ends_it(tmp_path):
    done = run_wait(tmp_path, "wake")
    assert done is not None, "the wait went on after Ctrl-C"
    assert done.stdout.strip() == "left on Ctrl-C", done.stderr


def test_without_the_wakeup_the_same_signal_is_lost_until_the_stream_speaks(tmp_path):
    """The case above is the race: without wake_on_signals the wait does not end."""
    assert run_wait(tmp_path, "plain") is None
