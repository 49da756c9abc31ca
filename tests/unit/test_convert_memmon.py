"""superlance memmon read into memory_limit (convert/memmon.py, and through convert)."""

from __future__ import annotations

import textwrap

import pytest

from supervisord_lite.convert.converter import convert
from supervisord_lite.convert.memmon import limit_for, read_memmon

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

pytestmark = pytest.mark.timeout(20)


def test_specs_sizes_and_ticks():
    spec = read_memmon(["-p", "web=200MB", "-g", "workers=1GB", "-a", "64KB", "-c", "-m", "a@x"],
                       ["TICK_5"])  # fmt: skip
    assert spec.limits == [("p", "web", 200 * 2**20), ("g", "workers", 2**30), ("a", "", 65536)]
    assert spec.interval == 5.0 and spec.cumulative
    assert spec.notes == ["-m: not mailed; [alerts] on 'memory_limit' can tell someone"]
    # memmon restarts a process over any limit naming it: -a's 64KB is the smallest
    assert limit_for(spec, "web", "web", ["web"]) == 65536
    assert limit_for(spec, "w", "workers", ["w_0"]) == 65536
    assert limit_for(spec, "other", "other", ["other"]) == 65536  # -a: any
    spec = read_memmon(["-a", "4GB", "-p", "web=200MB", "-g", "web=100MB", "-p", "web=300MB"], [])
    assert limit_for(spec, "web", "web", ["web"]) == 100 * 2**20  # the group's, smaller
    assert limit_for(spec, "db", "db", ["db"]) == 4 * 2**30
    spec = read_memmon(["-p", "web=200MB", "-p", "web=300MB"], [])
    assert limit_for(spec, "web", "web", ["web"]) == 300 * 2**20  # the later -p replaces


def test_without_cumulative_the_difference_is_noted_and_bad_specs_are_skipped():
    spec = read_memmon(["-p", "web", "-p", "db=lots", "-p", "g:api=10MB"], [])
    assert spec.limits == [("p", "g:api", 10 * 2**20)] and spec.interval == 60.0
    assert spec.notes[0] == "-p 'web': not NAME=SIZE, ignored"
    assert "counts the whole tree" in spec.notes[-1]
    assert limit_for(spec, "api", "g", ["api"]) == 10 * 2**20
    assert limit_for(spec, "web", "web", ["web"]) is None


def test_convert_sets_memory_limit_on_the_watched_programs(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        textwrap.dedent("""\
        [supervisord]
        [program:web]
        command = sleep 100
        [program:other]
        command = sleep 100
        [eventlistener:memmon]
        command = memmon -p web=100MB -c
        events = TICK_5
    """)
    )
    text, warnings = convert(str(conf), {})
    doc = tomllib.loads(text)
    assert doc["programs"]["web"]["memory_limit"] == 100 * 2**20
    assert doc["programs"]["web"]["memory_check_interval"] == 5.0
    assert "memory_limit" not in doc["programs"]["other"]
    assert any("superlance memmon: now programs.web.memory_limit" in str(w) for w in warnings)
