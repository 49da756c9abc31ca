"""What this host lacks for a loaded config: a command given as a path that names no
file, a working `directory` that does not exist.

One list, two verdicts. `--check` (text and `--json` alike) is the strict lint a deploy
runs before it goes live: each line is an error there, exit 2 and `"ok": false`. Launch
and reload print the same lines as warnings and start the config: as under supervisord,
which checks neither when it reads its config, that one program fails to spawn
(BACKOFF, then FATAL, with the OS's reason in `status`) while every other runs, and it
starts once the path exists. Refusing the whole config at boot for one program's
missing directory would stop every service on the host over a deploy that has not
created it yet. (An unknown `user` is a load error everywhere: supervisord refuses it
too.)
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.config.model import DaemonConfig


def host_problems(config: DaemonConfig) -> list[str]:
    """One line per missing path: `FILE: programs.NAME.KEY: what, and what it means`."""
    warnings = []
    for program in config.programs.values():
        where = f"{program.source}: programs.{program.name}"
        path = program.command[0]
        if os.sep in path and not os.path.exists(path):
            warnings.append(
                f"{where}.command: no such file {path} (a relative command is resolved "
                "against the program's directory, else the config file's); "
                "it cannot start (FATAL) until the file exists"
            )
        if program.directory is not None and not os.path.isdir(program.directory):
            warnings.append(
                f"{where}.directory: no such directory {program.directory}; "
                "it cannot start (FATAL) until the directory exists"
            )
    return warnings
