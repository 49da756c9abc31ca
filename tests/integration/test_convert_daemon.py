"""A converted Supervisor config through the real daemon: a Laravel-style worker pool
(numprocs 3, process_name %(program_name)s_%(process_num)02d, one shared log) runs
under supervisorctl's names, and `stop laravel-worker:*` stops exactly those."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from integration.harness import helper

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

pytestmark = pytest.mark.timeout(40)

WORKERS = [f"laravel-worker:laravel-worker_0{n}" for n in range(3)]


def laravel_ini(directory) -> str:
    worker = shlex.join(helper("sigwait"))
    return f"""\
[supervisord]
nodaemon=true ; docker style

[program:laravel-worker]
process_name=%(program_name)s_%(process_num)02d
command={worker}
autostart=true
autorestart=true
stopasgroup=true
killasgroup=true
numprocs=3
startsecs=0
redirect_stderr=true
stdout_logfile={directory}/laravel-worker.log
stopwaitsecs=5

[program:web]
command={worker}
startsecs=0
stdout_logfile=%(here)s/web.log
"""


def converted(daemon) -> dict:
    """The INI converted by the CLI, as TOML tables (its [supervisord] is the harness's)."""
    ini = daemon.path("supervisord.conf")
    ini.write_text(laravel_ini(daemon.dir))
    result = subprocess.run(
        [sys.executable, "-m", "supervisord_lite", "convert", str(ini)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout)


def test_converted_laravel_workers_run_under_supervisorctls_names(daemon):
    doc = converted(daemon)
    daemon.start(doc["programs"], groups=doc.get("groups"))
    assert set(daemon.status()) == {*WORKERS, "web"}
    for name in (*WORKERS, "web"):
        daemon.wait_state(name, "RUNNING")
    web_pid = daemon.status("web")["web"]["pid"]
    text = daemon.ctl_ok("status", "laravel-worker:*").stdout
    assert [line.split()[0] for line in text.splitlines()] == WORKERS

    daemon.ctl_ok("stop", "laravel-worker:*")
    status = daemon.status()
    assert {name: status[name]["state"] for name in WORKERS} == dict.fromkeys(WORKERS, "STOPPED")
    assert (status["web"]["state"], status["web"]["pid"]) == ("RUNNING", web_pid)

    daemon.ctl_ok("start", "laravel-worker:laravel-worker_01")
    daemon.wait_state(WORKERS[1], "RUNNING")
    # every worker appends to the one log, as under supervisord
    daemon.wait_until(
        lambda: daemon.path("laravel-worker.log").read_text().count("ready") >= 4, timeout=10
    )
