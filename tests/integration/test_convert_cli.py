"""`supervisord-lite convert` through the real CLI on the configs people trip over, and
`--check --json` of what it writes, compared with Supervisor's own reading of the INI
(tests/convert_corpus/oracle.py) where names and paths are concerned."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)


def sdl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "supervisord_lite", *args], env=env,
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def write_ini(tmp_path, text: str):
    path = tmp_path / "supervisord.conf"
    path.write_text(textwrap.dedent(text))
    return path


def convert(
    tmp_path, text: str, env: dict | None = None
) -> tuple[subprocess.CompletedProcess, object]:
    ini = write_ini(tmp_path, text)
    out = tmp_path / "out.toml"
    return sdl("convert", str(ini), "-o", str(out), env=env), out


def checked(out) -> dict:
    res = sdl("-c", str(out), "--check", "--json")
    assert "Traceback" not in res.stderr, res.stderr
    return json.loads(res.stdout)


def test_an_unclosed_quote_is_named_with_file_and_line(tmp_path):
    # Supervisor's inline-comment rule cuts `bash -c "a ; b"` at " ;"
    res, _ = convert(tmp_path, """\
        [supervisord]

        [program:job]
        command=bash -c "echo a ; echo b"
        """)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert f"{tmp_path}/supervisord.conf:4: [program:job] command: cannot split it" in res.stderr
    assert "No closing quotation" in res.stderr and "inline comment" in res.stderr
