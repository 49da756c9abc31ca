"""systemd's own reading of exported units, for the export tests.

`verify` runs `systemd-analyze verify` over units; `parse` asks systemd itself what it
made of them: `systemd --test` loads the units in test mode (it starts nothing, and
refuses to run as root, so it runs as `nobody`) and dumps every setting as parsed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SYSTEMD = next((p for p in ("/lib/systemd/systemd", "/usr/lib/systemd/systemd")
                if os.access(p, os.X_OK)), None)  # fmt: skip
needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="no systemd-analyze"
)
needs_systemd = pytest.mark.skipif(SYSTEMD is None, reason="no systemd binary for --test")


def verify(units: list[Path], tmp: Path) -> subprocess.CompletedProcess:
    """systemd-analyze verify of every unit, as systemd would load them from one
    directory. A ':' in an argument is its FILE:NAME alias syntax, so each unit is given
    as a colon-free copy aliased to its real name."""
    copies = Path(tempfile.mkdtemp(dir=tmp, prefix="verify"))
    args = []
    for i, unit in enumerate(units):
        shutil.copy(unit, copies / f"u{i}")
        args.append(f"{copies / f'u{i}'}:{unit.name}" if ":" in unit.name else str(unit))
    return subprocess.run(["systemd-analyze", "verify", "--man=no", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def parse(unit_dir: Path, units: list[str]) -> str:
    """systemd's dump of `units` (names) loaded from `unit_dir`: `Environment: K=V`
    lines as stored, `Command Line: ...` as systemd quotes an argv."""
    view = Path(tempfile.mkdtemp(prefix="sdl-units-"))
    try:
        view.chmod(0o755)
        for path in unit_dir.iterdir():
            if path.is_file() and not path.name.startswith("."):
                shutil.copy(path, view / path.name)
                (view / path.name).chmod(0o644)
        # a root job systemd can start without sysinit.target (not on the unit path)
        (view / "sdl-probe.target").write_text("[Unit]\nWants=" + " ".join(units) + "\n")
        (view / "sdl-probe.target").chmod(0o644)
        res = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env",
             f"SYSTEMD_UNIT_PATH={view}", SYSTEMD, "--test", "--system",
             "--unit=sdl-probe.target", "--log-target=console"],
            capture_output=True, timeout=60, cwd="/",
        )  # fmt: skip
        out = res.stdout.decode("utf-8", "surrogateescape")
        err = res.stderr.decode("utf-8", "surrogateescape")
        assert res.returncode == 0, err
        return out + err
    finally:
        shutil.rmtree(view)


_DUMP_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def command_lines(dump: str, unit: str) -> list[list[str]]:
    """The argv of each command of `unit` in a dump, as systemd stored it (before its
    exec-time `$` substitution). Its quoting is shell_maybe_quote's: double quotes,
    backslash before \\ " ` $, C escapes (octal too) for control characters."""
    section = dump.split(f"-> Unit {unit}:\n", 1)[1].split("\n\t-> Unit ", 1)[0]
    out = []
    for line in re.findall(r"\t\t\tCommand Line: (.*)", section):
        words, i = [], 0
        while i < len(line):
            if line[i] == " ":
                i += 1
                continue
            if line[i] != '"':
                end = line.find(" ", i)
                end = len(line) if end < 0 else end
                words.append(line[i:end])
                i = end
                continue
            word, i = [], i + 1
            while line[i] != '"':
                if line[i] != "\\":
                    word.append(line[i])
                    i += 1
                    continue
                nxt = line[i + 1]
                if nxt in _DUMP_ESCAPES:
                    word.append(_DUMP_ESCAPES[nxt])
                    i += 2
                elif nxt == "x":
                    word.append(chr(int(line[i + 2 : i + 4], 16)))
                    i += 4
                elif nxt.isdigit():
                    word.append(chr(int(line[i + 1 : i + 4], 8)))
                    i += 4
                else:
                    word.append(nxt)
                    i += 2
            words.append("".join(word))
            i += 1
        out.append(words)
    return out


def environment(dump: str, unit: str) -> list[str]:
    """`KEY=value` of each Environment= item of `unit`, as systemd stored it (a value
    may hold line breaks: the dump writes it raw)."""
    section = dump.split(f"-> Unit {unit}:\n", 1)[1].split("\n\t-> Unit ", 1)[0]
    items = section.split("\t\tEnvironment: ")[1:]
    # each item runs to the next dumped setting ("\n\t\tName: ...")
    items = [re.split(r"\n\t\t(?=[A-Z][A-Za-z]*: )", item, maxsplit=1)[0] for item in items]
    return [item[:-1] if item.endswith("\n") else item for item in items]
