"""Environment variables that must hold the child's own pid: `WATCHDOG_PID`, and
`LISTEN_PID` for socket activation (sd_watchdog_enabled(3) and sd_listen_fds(3) ignore
their variables unless the value equals getpid()).

The pid is not known before the child exists, and posix_spawn runs no code of ours
between fork and exec. So such a child starts as `/bin/sh -c 'export NAME=$$ ...; exec
"$@"' sh PROGRAM ARGS...`: the shell's pid, `$$`, becomes the program's when it execs
(exec keeps the pid). The program and its arguments are the shell's positional
parameters, never part of the script, so nothing in them is ever interpreted; the names
are the daemon's own and checked. The extra exec is the child's, not the daemon's:
docs/health.md has the measured cost (`python -m benchmarks.pid_env`) and why not a
preexec_fn. Pure: spawn.py does the spawning.
"""

from __future__ import annotations

import re

# The value for spawn(extra_env=...) meaning "this child's own pid". Its NUL makes it a
# value no environment can hold: it can never pass for a real one, and would be refused
# by exec if it ever got that far.
OWN_PID = b"\0the child's own pid"
SH = "/bin/sh"
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*\Z")


def through_shell(names: list[bytes], argv: list[str], path: str) -> list[str]:
    """The argv that runs `argv` with each of `names` set to its pid. `path` is where
    exec finds argv[0] (the caller has looked, so that a missing command stays a spawn
    error rather than the shell's exit 127)."""
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"not an environment variable name: {name!r}")
    exports = " ".join(f"{name.decode()}=$$" for name in names)
    # Some shells read `exec -x` as an option: a name with a leading dash goes as a path.
    first = path if argv[0].startswith("-") else argv[0]
    return [SH, "-c", f'export {exports}; exec "$@"', "sh", first, *argv[1:]]
