"""metrics.render: the Prometheus text exposition, read back with prometheus_client's own
parser (a real parser, not our idea of the format)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisord_lite.control.metrics import DaemonRow, ProcessRow, escape, render

pytestmark = pytest.mark.timeout(10)

DAEMON = DaemonRow(cpu_seconds=1.5, memory_bytes=15_000_000, clients=2, start_time=1795e6)


def row(name: str, state: str = "RUNNING", **kw) -> ProcessRow:
    base = dict(group="g", state=state, restarts=0, start_time=1795e6 + 1, exit_status=None,
                cpu_seconds=0.25, memory_bytes=4096, healthy=None,
                log_bytes={"stdout": 10, "stderr": 0})  # fmt: skip
    base.update(kw)
    return ProcessRow(name=name, **base)


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def values(family) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_every_family_parses_with_its_type_and_help():
    text = render([row("g:a"), row("g:b", "FATAL", exit_status=-9, cpu_seconds=None,
                                   memory_bytes=None, restarts=3)], DAEMON)  # fmt: skip
    got = families(text)
    # prometheus_client strips _total from counter family names
    expected_types = {
        "supervisord_lite_up": "gauge",
        "supervisord_lite_daemon_cpu_seconds": "counter",
        "supervisord_lite_daemon_resident_memory_bytes": "gauge",
        "supervisord_lite_daemon_start_time_seconds": "gauge",
        "supervisord_lite_control_clients": "gauge",
        "supervisord_lite_process_state": "gauge",
        "supervisord_lite_process_up": "gauge",
        "supervisord_lite_process_restarts": "counter",
        "supervisord_lite_process_start_time_seconds": "gauge",
        "supervisord_lite_process_exit_status": "gauge",
        "supervisord_lite_process_cpu_seconds": "counter",
        "supervisord_lite_process_resident_memory_bytes": "gauge",
        "supervisord_lite_process_log_bytes": "counter",
    }
    assert {name: f.type for name, f in got.items()} == expected_types
    assert all(f.documentation for f in got.values())
    state = values(got["supervisord_lite_process_state"])
    assert state[(("group", "g"), ("name", "g:a"), ("state", "RUNNING"))] == 1
    assert state[(("group", "g"), ("name", "g:b"), ("state", "FATAL"))] == 1
    assert sum(state.values()) == 2 and len(state) == 14  # one-hot over 7 states each
    assert values(got["supervisord_lite_process_up"]) == {
        (("group", "g"), ("name", "g:a")): 1,
        (("group", "g"), ("name", "g:b")): 0,
    }
    assert values(got["supervisord_lite_process_exit_status"]) == {
        (("group", "g"), ("name", "g:b")): -9
    }
    # a process not running has no CPU or memory series (absent, not zero)
    assert len(got["supervisord_lite_process_cpu_seconds"].samples) == 1
    assert values(got["supervisord_lite_process_restarts"])[(("group", "g"), ("name", "g:b"))] == 3
    logs = values(got["supervisord_lite_process_log_bytes"])
    assert logs[(("group", "g"), ("name", "g:a"), ("stream", "stdout"))] == 10


def test_healthy_appears_only_where_health_is_configured():
    assert "process_healthy" not in render([row("a")], DAEMON)
    got = families(render([row("a", healthy=False), row("b")], DAEMON))
    assert values(got["supervisord_lite_process_healthy"]) == {(("group", "g"), ("name", "a")): 0}


@pytest.mark.parametrize("value", ['a"b', "back\\slash", "new\nline", 'all "\\\n" of them'])
def test_label_values_are_escaped(value):
    got = families(render([row(value, group=value)], DAEMON))
    (sample,) = got["supervisord_lite_process_up"].samples
    assert sample.labels == {"name": value, "group": value}
    assert escape('"') == '\\"'


def test_quota_families_only_where_configured():
    assert "cpu_quota" not in render([row("g:a")], DAEMON)
    text = render([row("g:a", cpu_quota=0.5, tasks_max=64), row("g:b")], DAEMON)
    got = families(text)
    quota = values(got["supervisord_lite_process_cpu_quota_cpus"])
    assert quota == {(("group", "g"), ("name", "g:a")): 0.5}
    tasks = values(got["supervisord_lite_process_tasks_max"])
    assert tasks == {(("group", "g"), ("name", "g:a")): 64}
