"""`export systemd` run as root writes only what it means to: no planted symlink is
followed, and no value can smuggle a directive of its own into a unit (systemd ends a
line at CR too, so a value holding one could append `ExecStartPre=+...`, run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from integration.systemd_units import (
    command_lines,
    environment,
    needs_analyze,
    needs_systemd,
    parse,
    verify,
)
from integration.test_export_systemd import export, unit_files, write_config

pytestmark = pytest.mark.timeout(90)

NOBODY = pwd.getpwnam("nobody")
TRUE = shutil.which("true")


def as_nobody(*argv: str) -> None:
    subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
                   check=True, timeout=30)  # fmt: skip


@pytest.fixture
def reachable_dir():
    """A directory under /tmp that nobody can reach (pytest's tmp_path is root's 0700)."""
    path = Path(tempfile.mkdtemp(prefix="sdl-export-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="the attack needs root to run the export")
def test_a_planted_symlink_is_never_followed(reachable_dir):
    """The export directory belongs to nobody (a user's own unit dir, a deploy dir):
    nobody plants `<unit>.tmp` -> a file, and root's export must not write through it."""
    tmp_path = reachable_dir
    out = tmp_path / "units"
    out.mkdir()
    os.chown(out, NOBODY.pw_uid, NOBODY.pw_gid)
    victim = tmp_path / "victim"
    victim.write_text("nobody's own file\n")
    os.chown(victim, NOBODY.pw_uid, NOBODY.pw_gid)
    victim.chmod(0o600)
    for name in ("supervisord-lite-a.service", "supervisord-lite.target"):
        as_nobody("ln", "-s", str(victim), str(out / f"{name}.tmp"))
    res = export(write_config(tmp_path, {"a": {"command": "true"}}), out)
    assert res.returncode == 0, res.stderr
    assert victim.read_text() == "nobody's own file\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    unit = out / "supervisord-lite-a.service"
    assert not unit.is_symlink() and f"ExecStart={TRUE}" in unit.read_text()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert (out / "supervisord-lite-a.service.tmp").is_symlink()  # left as it was


def test_a_planted_fifo_does_not_hang_the_export(tmp_path):
    """A FIFO named like a unit: reading it to see whose it is would block forever."""
    out = tmp_path / "units"
    out.mkdir()
    os.mkfifo(out / "supervisord-lite-a.service")
    res = export(write_config(tmp_path, {"a": {"command": "true"}}), out)
    assert res.returncode == 1
    assert "supervisord-lite-a.service: exists and was not written by export" in res.stderr
    assert stat.S_ISFIFO((out / "supervisord-lite-a.service").lstat().st_mode)


# Every C0 control and DEL, a backslash at the end, and what systemd expands.
HOSTILE = "a\rExecStartPre=+/bin/sh -c id\nb\tc\x01\x1b[31m\x7f %i %% $HOME ${X} \"q\" 'r' ;\\"
CONTROLS = "".join(chr(c) for c in range(1, 32)) + "\x7f"


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@needs_analyze
@needs_systemd
def test_control_characters_reach_the_program_as_written(tmp_path):
    programs = {
        "a": {
            # command and environment are templates: "{{" is a brace (docs/lifecycle.md)
            "command": [TRUE, _literal(HOSTILE), CONTROLS, ";", "", "-x"],
            "environment": {"MSG": _literal(HOSTILE), "ALL": CONTROLS, "EMPTY": ""},
        }
    }
    out = tmp_path / "units"
    res = export(write_config(tmp_path, programs), out)
    assert res.returncode == 0, res.stderr
    text = (out / "supervisord-lite-a.service").read_text()
    assert "\r" not in text and "ExecStartPre" not in text.replace("ExecStartPre=+", "")
    checked = verify(unit_files(out), tmp_path)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    dump = parse(out, ["supervisord-lite-a.service"])
    assert "-> ExecStartPre:" not in dump  # no command but the one written
    # systemd turns `$$` into `$` when it runs the command: the argv it stores has them
    stored = [[w.replace("$$", "$") for w in argv]
              for argv in command_lines(dump, "supervisord-lite-a.service")]  # fmt: skip
    assert stored == [[TRUE, HOSTILE, CONTROLS, ";", "", "-x"]]
    env = environment(dump, "supervisord-lite-a.service")
    assert f"MSG={HOSTILE}" in env and f"ALL={CONTROLS}" in env and "EMPTY=" in env


def test_values_a_unit_cannot_carry_are_refused_not_written(tmp_path):
    directory = tmp_path / "odd\rExecStartPre=+evil"
    directory.mkdir()
    programs = {"a": {"command": "true", "directory": str(directory)},
                "b": {"command": "true", "environment": {"A.B": "1"}},
                # systemd reads "+" as "run with full privileges", quoted or not
                "c": {"command": ["+not-in-path", "x"]}}  # fmt: skip
    out = tmp_path / "units"
    res = export(write_config(tmp_path, programs), out)
    assert res.returncode == 2, res.stderr
    assert "programs.a.directory: holds control characters (\\r)" in res.stderr
    assert "programs.b.environment: variable name 'A.B'" in res.stderr
    assert "programs.c.command: '+not-in-path' begins with '+'" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_config_path_with_a_line_break_stays_a_comment(tmp_path):
    odd = tmp_path / "x\rExecStartPre=+evil"
    odd.mkdir()
    config = write_config(odd, {"a": {"command": "true"}})
    out = tmp_path / "units"
    res = export(config, out)
    assert res.returncode == 0, res.stderr
    for path in out.iterdir():
        text = path.read_text()
        assert "\r" not in text and "\nExecStartPre" not in text, path.name


def test_no_temporary_file_is_left_behind(tmp_path):
    out = tmp_path / "units"
    config = write_config(tmp_path, {"a": {"command": "true"}, "b": {"command": "true"}})
    assert export(config, out).returncode == 0
    assert export(config, out).returncode == 0
    names = sorted(p.name for p in Path(out).iterdir())
    assert not any(".tmp" in n for n in names), names
