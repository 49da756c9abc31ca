"""What `env_file` and per-instance values cost a spawn: `python -m benchmarks.env_file
[--quick]`.

The daemon's side is what counts (a crash storm is spawns back to back on its one
thread): its CPU per spawn, from getrusage(RUSAGE_SELF) around N spawns of `true`
through the daemon's own spawn(), each reaped before the next. Medians of repeats,
the ways interleaved so that load changes hit each alike.

1. no env_file, no template (the floor: what every other program pays);
2. env_file: one file of 20 variables, read and parsed at each spawn (systemd's rule);
3. env_file, two files, one optional and missing;
4. per-instance values: `{process_num}` in command and environment (resolved once per
   program and slot, so a spawn pays nothing more: measured through Process.settings).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

from benchmarks.spawn_costs import compare
from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.process import Process
from supervisord_lite.linux.spawn import spawn

TRUE = shutil.which("true") or "/bin/true"


def ways(folder: str) -> dict:
    env_path = os.path.join(folder, "app.env")
    with open(env_path, "w") as f:
        f.write("# twenty variables, quoted and not\n")
        for i in range(20):
            f.write(f'VAR_{i}="value number {i}"\n' if i % 2 else f"VAR_{i}=plain{i}\n")
    missing = os.path.join(folder, "missing.env")
    plain = ProgramConfig(name="w", command=(TRUE,), stdout_logfile="none")
    one = plain.replace(env_file=(env_path,))
    two = plain.replace(env_file=(env_path, "-" + missing))
    templated = ProgramConfig(
        name="w", command=(TRUE, "--port={process_num}"), numprocs=2,
        environment=(("PORT", "{process_num}"),), stdout_logfile="none",
    )  # fmt: skip
    slot = Process(templated, 1)

    def start(program):
        return lambda: spawn(program, 0, False, False).pid

    return {
        "no env_file, no template (floor)": start(plain),
        "env_file: one file, 20 variables": start(one),
        "env_file: two files, one optional and missing": start(two),
        "{process_num} in command and environment": lambda: (
            spawn(slot.settings(), 1, False, False).pid
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, repeats = (100, 3) if args.quick else (500, 5)
    with tempfile.TemporaryDirectory() as folder:
        methods = ways(folder)
        compare(
            methods,
            n,
            repeats,
            f"{n} spawns of `true` through spawn(), each reaped before the next",
        )


if __name__ == "__main__":
    main()
