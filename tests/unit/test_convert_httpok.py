"""superlance httpok read into [programs.X.health] (convert/httpok.py, through convert)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from supervisord_lite.convert.converter import convert
from supervisord_lite.convert.httpok import health_table, read_httpok

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

pytestmark = pytest.mark.timeout(20)


def test_options_and_ticks():
    spec = read_httpok(["-p", "web", "-p", "g:api", "-t", "3", "-b", "ok", "-m", "a@x", "-e",
                        "http://127.0.0.1:8080/health"], ["TICK_60", "TICK_5"])  # fmt: skip
    assert spec.processes == ["web", "g:api"] and spec.url == "http://127.0.0.1:8080/health"
    assert (spec.timeout, spec.interval) == (3.0, 5.0)
    assert spec.notes == [
        "-b 'ok': the body is not checked",
        "-m: not mailed; [alerts] on 'unhealthy' can tell someone",
    ]
    assert health_table(spec) == (
        {"http": "http://127.0.0.1:8080/health", "interval": 5.0, "timeout": 3.0, "failures": 1},
        None,
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/", "a health check fetches http:// URLs only"),
        ("http://app.internal:80/", "a health check needs an IP address or localhost"),
    ],
)
def test_what_cannot_be_a_health_check(url, why):
    table, reason = health_table(read_httpok(["-p", "x", url], []))
    assert table is None and why in reason


def test_convert_puts_the_check_on_the_programs_it_restarts(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        textwrap.dedent("""\
        [supervisord]
        [program:web]
        command = sleep 100
        numprocs = 2
        process_name = %(program_name)s_%(process_num)d
        [program:other]
        command = sleep 100
        [eventlistener:httpok]
        command = /usr/bin/httpok -p web:web_1 -p web:web_0 http://localhost:8080/
        events = TICK_60
        [eventlistener:lost]
        command = httpok -p nowhere http://127.0.0.1/
        events = TICK_5
    """)
    )
    text, warnings = convert(str(conf), {})
    doc = tomllib.loads(text)
    assert doc["programs"]["web"]["health"] == {
        "http": "http://localhost:8080/", "interval": 60.0, "timeout": 10.0, "failures": 1
    }  # fmt: skip
    assert "health" not in doc["programs"]["other"]
    shown = [str(w) for w in warnings]
    assert any("[eventlistener:lost]: superlance httpok is not converted: -p nowhere names no"
               in w for w in shown), shown  # fmt: skip
    out = tmp_path / "out.toml"
    out.write_text(text)
    check = subprocess.run([sys.executable, "-m", "supervisord_lite", "-c", str(out), "--check"],
                           capture_output=True, text=True, timeout=20)  # fmt: skip
    assert check.returncode == 0, check.stderr
