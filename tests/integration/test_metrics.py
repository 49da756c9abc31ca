"""`supervisorctl-lite metrics` against the real daemon: what it reports of real
processes, read back with prometheus_client's parser (and promtool where installed)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.timeout(40)


def scrape(daemon) -> dict:
    text = daemon.ctl_ok("metrics").stdout
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            key = (sample.name, labels.pop("name", None), labels.pop("stream", None),
                   labels.pop("state", None))  # fmt: skip
            out[key] = sample.value
    return out


def test_metrics_of_real_processes(daemon):
    daemon.start(
        {
            # writes exactly 6 + 4 bytes, then sleeps
            "talk": {
                "command": ["sh", "-c", "printf hello\\n; printf err\\n >&2; sleep 300"],
                "startsecs": 0,
            },  # fmt: skip
            "crash": {"command": ["sh", "-c", "exit 3"], "startsecs": 0, "autorestart": False},
            "idle": {"command": ["sleep", "300"], "startsecs": 0, "autostart": False},
        },
        groups={"g": {"programs": ["talk", "crash"]}},
    )
    pid = daemon.wait_state("g:talk", "RUNNING")["pid"]
    daemon.wait_state("g:crash", "EXITED")
    daemon.wait_until(lambda: scrape(daemon)[("supervisord_lite_process_log_bytes_total",
                                              "g:talk", "stderr", None)] == 4, 5)  # fmt: skip
    got = scrape(daemon)
    assert got[("supervisord_lite_up", None, None, None)] == 1
    assert got[("supervisord_lite_process_log_bytes_total", "g:talk", "stdout", None)] == 6
    assert got[("supervisord_lite_process_state", "g:talk", None, "RUNNING")] == 1
    assert got[("supervisord_lite_process_state", "g:crash", None, "EXITED")] == 1
    assert got[("supervisord_lite_process_state", "idle", None, "STOPPED")] == 1
    assert got[("supervisord_lite_process_up", "g:crash", None, None)] == 0
    assert got[("supervisord_lite_process_exit_status", "g:crash", None, None)] == 3
    assert ("supervisord_lite_process_exit_status", "idle", None, None) not in got
    # the running process's own figures, as /proc has them
    with open(f"/proc/{pid}/statm") as fh:
        assert got[("supervisord_lite_process_resident_memory_bytes", "g:talk", None, None)] > 0
        assert int(fh.read().split()[1]) > 0
    assert got[("supervisord_lite_control_clients", None, None, None)] >= 1
    assert got[("supervisord_lite_daemon_resident_memory_bytes", None, None, None)] > 1e6
    # counts survive a restart: the old child's bytes are kept, the new one's added
    daemon.ctl_ok("restart", "g:talk")
    daemon.wait_until(lambda: scrape(daemon)[("supervisord_lite_process_log_bytes_total",
                                              "g:talk", "stdout", None)] == 12, 5)  # fmt: skip
    res = daemon.ctl_ok("--json", "metrics")
    assert '"metrics": "# HELP supervisord_lite_up' in res.stdout


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_exposition(daemon):
    daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0}})
    daemon.wait_state("a", "RUNNING")
    text = daemon.ctl_ok("metrics").stdout
    res = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=20)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


def test_memory_limit_series_count_the_restarts(daemon):
    from integration.harness import helper

    daemon.start({
        "hog": {"command": helper("hog", "--mb", 80), "startsecs": 0, "memory_limit": "40MB",
                "memory_check_interval": 0.2},
        "free": {"command": ["sleep", "300"], "startsecs": 0},
    })  # fmt: skip
    hits = ("supervisord_lite_process_memory_limit_hits_total", "hog", None, None)
    daemon.wait_until(lambda: scrape(daemon).get(hits, 0) >= 1, 15)
    got = scrape(daemon)
    assert got[("supervisord_lite_process_memory_limit_bytes", "hog", None, None)] == 40 * 2**20
    assert ("supervisord_lite_process_memory_limit_bytes", "free", None, None) not in got
