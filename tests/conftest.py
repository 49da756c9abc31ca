"""Shared fixtures: a real daemon per test, torn down hard (pass or fail), and a final
check that no process started by this session survived it. The harness itself lives in
tests/integration/harness.py.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil
import pytest

# Import the harness as `integration.harness` however pytest imports this file, so that
# test modules and this conftest share one instance (and one session token).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from integration.harness import Daemon, session_processes, small_disk  # noqa: E402

# A suite started in the background of a non-interactive shell (`make test &`, as .ci/run
# runs its second pass) inherits SIGINT ignored, and exec passes "ignored" on to every
# child: the ctl under test would then never see a Ctrl-C. A handler (unlike SIG_IGN) is
# reset to the default at exec, so children get SIGINT as a user's terminal gives it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _short_dir() -> Path:
    # AF_UNIX paths are limited to 107 bytes; pytest's tmp_path can be much longer.
    return Path(tempfile.mkdtemp(prefix="sdl-", dir="/tmp")).resolve()


@pytest.fixture
def daemon() -> Any:
    d = Daemon(_short_dir())
    try:
        yield d
    finally:
        # Shown by pytest only when the test failed.
        print(f"--- daemon log ({d.logfile}) ---\n{d.log_tail()}")
        d.teardown()


@pytest.fixture
def make_daemon() -> Any:
    """A factory for tests that need more than one daemon."""
    made: list[Daemon] = []

    def make() -> Daemon:
        d = Daemon(_short_dir())
        made.append(d)
        return d

    try:
        yield make
    finally:
        for d in made:
            print(f"--- daemon log ({d.logfile}) ---\n{d.log_tail()}")
            d.teardown()


@pytest.fixture
def tiny_disk(daemon):
    """A 256 KiB tmpfs as the daemon's log_dir (needs root and mount)."""
    with small_disk(daemon, "logs") as path:
        yield path


@pytest.fixture(scope="session", autouse=True)
def no_strays_at_end() -> Any:
    """At the end of the session no process started by this suite may remain."""
    yield
    strays = []
    for p in session_processes():
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                strays.append(p)
        except psutil.Error:
            pass
    if not strays:
        return
    desc = []
    for p in strays:
        try:
            desc.append(f"{p.pid} {' '.join(p.cmdline())[:160]}")
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(strays, timeout=5)
    pytest.fail("processes of this test session survived it:\n" + "\n".join(desc))
