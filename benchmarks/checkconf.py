"""10. reading a big config: 1000 programs (in 10 groups), the wall time of
`supervisord-lite --check --json` (read, check, resolve, print), against supervisord
reading the same programs as INI (`ServerOptions.realize`, which parses and resolves
every section; it has no --check, so this is the nearest). Target: under 0.5 s."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, Settings, median

PROGRAMS, GROUPS = 1000, 10


def write_configs(root: Path) -> tuple[Path, Path]:
    toml = ['[supervisord]\nsocket = "s.sock"\n']
    ini = [f"[supervisord]\nlogfile = {root}/sd.log\npidfile = {root}/sd.pid\n"]
    ini.append(f"[unix_http_server]\nfile = {root}/sd.sock\n")
    per_group = PROGRAMS // GROUPS
    for i in range(PROGRAMS):
        toml.append(f'[programs.p{i}]\ncommand = "sleep 1000"\nstartsecs = 0\n')
        ini.append(f"[program:p{i}]\ncommand = sleep 1000\nstartsecs = 0\n")
    for g in range(GROUPS):
        members = [f"p{i}" for i in range(g * per_group, (g + 1) * per_group)]
        toml.append(f"[groups.g{g}]\nprograms = {members!r}\n".replace("'", '"'))
        ini.append(f"[group:g{g}]\nprograms = {','.join(members)}\n")
    (root / "big.toml").write_text("\n".join(toml))
    (root / "big.conf").write_text("\n".join(ini))
    return root / "big.toml", root / "big.conf"


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run(settings: Settings) -> list[Row]:
    repeats = settings.pick(7, 1)
    row = Row(
        "checkconf",
        f"{PROGRAMS} programs: read + check the config (s)",
        fmt="{:.3f}",
        note=f"median of {repeats}; lite: --check --json, supervisord: ServerOptions.realize",
    )
    with tempfile.TemporaryDirectory(prefix="sdlb-check-") as tmp:
        toml, ini = write_configs(Path(tmp))
        lite = [sys.executable, "-m", "supervisord_lite", "-c", str(toml), "--check", "--json"]
        sd = [
            sys.executable,
            "-c",
            "import sys; from supervisor.options import ServerOptions; "
            "ServerOptions().realize(args=['-c', sys.argv[1]])",
            str(ini),
        ]
        lite_times, sd_times = [], []
        for _ in range(repeats):
            lite_times.append(wall(lite))
            if settings.with_supervisord:
                sd_times.append(wall(sd))
    row.set("lite", median(lite_times))
    row.set("supervisord", median(sd_times) if sd_times else None)
    return [row]
