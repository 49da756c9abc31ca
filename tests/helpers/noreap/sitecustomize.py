"""Disables reaping in the daemon, to show that tests/integration/test_zombies.py fails then.

    PYTHONPATH=tests/helpers/noreap .venv/bin/pytest tests/integration/test_zombies.py

Only the daemon process is affected (recognised by its command line): os.waitid finds
nothing and os.waitpid(..., WNOHANG) reports no exited child, so zombies pile up.
"""

import os

with open("/proc/self/cmdline", "rb") as _f:
    _argv = _f.read().split(b"\0")

_is_daemon = any(a.endswith(b"supervisord-lite") for a in _argv) or (
    b"-m" in _argv and b"supervisord_lite" in _argv
)

if _is_daemon:
    _real_waitpid = os.waitpid

    def _waitid(*_args, **_kwargs):
        return None

    def _waitpid(pid, options):
        if options & os.WNOHANG:
            return (0, 0)
        return _real_waitpid(pid, options)

    os.waitid = _waitid
    os.waitpid = _waitpid
