"""What this host lacks for a loaded config: a command given as a path that names no
file, a working `directory` or a required `env_file` that does not exist.

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
    from supervisord_lite.config.model import DaemonConfig, ProgramConfig


def host_problems(config: DaemonConfig) -> list[str]:
    """One line per missing path: `FILE: programs.NAME.KEY: what, and what it means`.
    Per process where per-instance values make the paths differ ({process_num})."""
    warnings: dict[str, None] = {}  # ordered, each line once
    for program in config.programs.values():
        count = program.numprocs if program.templated else min(program.numprocs, 1)
        for index in range(count):
            warnings.update(dict.fromkeys(_instance_problems(program, program.instance(index))))
    return list(warnings)


def _instance_problems(declared: ProgramConfig, program: ProgramConfig) -> list[str]:
    warnings = []
    where = f"{declared.source}: programs.{declared.name}"
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
    for given in program.env_file:
        if not given.startswith("-") and not os.path.exists(given):
            warnings.append(
                f"{where}.env_file: no such file {given} (write -{given} if it is "
                "optional); it cannot start (FATAL) until the file exists"
            )

    return warnings
