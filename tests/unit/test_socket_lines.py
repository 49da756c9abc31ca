"""socket_lines reads exactly what the regular expressions it replaced matched."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from hypothesis import example, given, settings
from hypothesis import strategies as st

from supervisord_lite.ctl import socket_lines

PROGRAMS_HEADER = r"""(?m)^[ \t]*\[[ \t]*["']?programs"""
SUPERVISORD_HEADER = r"""\[\s*(["']?)supervisord\1\s*\]\s*(#.*)?$"""
SOCKET_LINE = r"""(["']?)socket\1\s*=\s*(?:"([^"\\]*)"|'([^']*)')\s*(#.*)?$"""
SOCKET_OR_TABLE_KEY = r"""["']?(?:socket|supervisord)\b"""

# Lines built from the pieces those expressions look at, so that near misses are common.
pieces = st.sampled_from(
    ["[", "]", '"', "'", "socket", "supervisord", "programs", "=", " ", "\t", "#", "\\",
     "x", "_", ".", "/tmp/s.sock", "é", "\u00a0", "\n", "1"]
)  # fmt: skip
lines = st.lists(pieces, max_size=12).map("".join)


@settings(max_examples=1000, deadline=None)
@given(lines)
@example('socket = "/a/b.sock"  # here')
@example("'socket' = '/x'")
@example('[ "supervisord" ] # c')
@example("[supervisord'] ")
@example('socket = "a\\b"')
@example("socket_dir = 'x'")
def test_line_readers_match_the_expressions(text):
    line = text.strip()
    assert socket_lines.is_supervisord_header(line) == bool(re.match(SUPERVISORD_HEADER, line))
    m = re.match(SOCKET_LINE, line)
    want = None if m is None else (m.group(2) if m.group(2) is not None else m.group(3))
    assert socket_lines.socket_value(line) == want
    assert socket_lines.names_socket_key(line) == bool(re.match(SOCKET_OR_TABLE_KEY, line))


@settings(max_examples=500, deadline=None)
@given(st.lists(lines, max_size=6).map("\n".join))
@example("[supervisord]\n  [ 'programs.web]\n")
def test_programs_cut_matches_the_expression(text):
    m = re.search(PROGRAMS_HEADER, text)
    assert socket_lines.programs_cut(text) == (len(text) if m is None else m.start())


def test_finding_the_socket_imports_neither_re_nor_tomllib(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[supervisord]\nsocket = "s.sock"\n\n[programs.web]\ncommand = ["x"]\n')
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        f"import sys, types; sys.path.insert(0, {root!r})\n"
        "from supervisord_lite.ctl.client import socket_path\n"
        f"print(socket_path(types.SimpleNamespace(socket=None, config={str(config)!r})))\n"
        "print(sorted({'re', 'tomllib', 'json'} & set(sys.modules)))\n"
    )
    # -S: without site, whose .pth files (an editable install's finder) import re
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout.splitlines() == [str(tmp_path / "s.sock"), "[]"], out
