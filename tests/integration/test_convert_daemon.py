"""A converted Supervisor config through the real daemon: a Laravel-style worker pool
(numprocs 3, process_name %(program_name)s_%(process_num)02d, one shared log) runs
under supervisorctl's names, and `stop laravel-worker:*` stops exactly those."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import psutil
import pytest

from integration.harness import helper, to_toml

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


def test_converted_crashmail_mails_a_crash_through_its_sendmail(daemon):
    """superlance crashmail becomes [alerts]: the crash reaches the mail command, with
    the recipient and subject crashmail would have used."""
    mailbox = daemon.path("mailbox")
    sendmail = shlex.quote(f"tee {mailbox}")  # stands in for /usr/sbin/sendmail -t -i
    ini = daemon.path("supervisord.conf")
    ini.write_text(f"""\
[supervisord]
[program:flaky]
command=sh -c "sleep 0.3; exit 4"
startsecs=0
autorestart=false
[eventlistener:crashmail]
command=crashmail -a -m ops@example.com -o [web1] -s {sendmail}
events=PROCESS_STATE_EXITED
""")
    result = subprocess.run([sys.executable, "-m", "supervisord_lite", "convert", str(ini)],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "superlance crashmail: now [alerts] on 'crashed'" in result.stderr
    doc = tomllib.loads(result.stdout)
    assert doc["alerts"]["on"] == ["crashed"] and doc["alerts"]["batch"] == 0
    daemon.write_config(doc["programs"])
    with open(daemon.config, "a") as fh:
        fh.write("\n[alerts]\n" + "\n".join(
            f"{key} = {json.dumps(value)}" for key, value in doc["alerts"].items()))  # fmt: skip
    daemon.start()
    daemon.wait_until(lambda: mailbox.exists() and "}" in mailbox.read_text(), 10)
    head, _, body = mailbox.read_text().partition("\n\n")
    assert head.splitlines() == ["To: ops@example.com", "Subject: [web1] supervisord-lite alert"]
    assert json.loads(body)["alerts"][0]["process"] == "flaky"


def test_a_split_pool_keeps_each_process_num_and_every_child_knows_its_supervisor(daemon):
    """A pool whose command differs per process is split into one program per process:
    each still sees its own SUPERVISOR_PROCESS_NUM, and every child SUPERVISOR_ENABLED=1
    (set by supervisord, read by supervisor.childutils)."""
    ini = daemon.path("supervisord.conf")
    ini.write_text(f"""\
[supervisord]
[program:pool]
process_name=%(program_name)s_%(process_num)d
numprocs=3
numprocs_start=4
command=sh -c 'echo $SUPERVISOR_PROCESS_NUM $SUPERVISOR_ENABLED %(process_num)d; exec sleep 300'
startsecs=0
stdout_logfile={daemon.dir}/%(program_name)s_%(process_num)d.log
""")  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "supervisord_lite", "convert", str(ini)],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "written as one program per process" in result.stderr
    doc = tomllib.loads(result.stdout)
    daemon.start(doc["programs"], groups=doc.get("groups"))
    for num in (4, 5, 6):
        daemon.wait_state(f"pool:pool_{num}", "RUNNING")
        log = daemon.path(f"pool_{num}.log")
        daemon.wait_until(lambda log=log: log.exists() and "\n" in log.read_text(), 10)
        assert log.read_text() == f"{num} 1 {num}\n"  # process_num, enabled, the INI's


def test_a_converted_quit_on_fatal_listener_stops_the_daemon(daemon):
    """Issue 25: a listener that is none of superlance's was dropped by convert. The
    "quit the container when a program dies" listener seen in Docker images (it kills
    its parent, the supervisor, on PROCESS_STATE_FATAL) now runs, unchanged."""
    ini = daemon.path("supervisord.conf")
    ini.write_text("""\
[supervisord]
[program:broken]
command=false
startsecs=1
startretries=1
[eventlistener:processes]
command=bash -c "printf 'READY\\n' && while read line; do kill -SIGQUIT $PPID; done < /dev/stdin"
events=PROCESS_STATE_FATAL
""")
    result = subprocess.run([sys.executable, "-m", "supervisord_lite", "convert", str(ini)],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = tomllib.loads(result.stdout)
    assert doc["listeners"]["processes"]["events"] == ["PROCESS_STATE_FATAL"]
    tables = {f"{kind}.{name}": keys for kind in ("programs", "listeners")
              for name, keys in doc[kind].items()}  # fmt: skip
    daemon.write_config(to_toml(tables))
    daemon.start()
    pid = daemon.pid
    daemon.wait_until(lambda: not psutil.pid_exists(pid), timeout=20)
    assert "received SIGQUIT: shutting down" in daemon.logfile.read_text()
