"""env_file and per-instance values through the real daemon (docs/lifecycle.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from integration.harness import DAEMON_CMD, free_port, wait_until

PRINT_ENV = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]


def env_of(daemon, name):
    """The environment a process printed as its first stdout line."""
    text = wait_until(lambda: daemon.read_log(name).strip(), message=f"{name} to print")
    return json.loads(text.splitlines()[0])


def test_env_file_quotes_comments_optional_and_override(daemon):
    (daemon.dir / "app.env").write_text(
        "# a comment\n"
        "; another\n"
        "PLAIN=one two  \n"
        "SINGLE='it''s # kept'\n"
        'DOUBLE="say \\"hi\\"\\nraw"\n'
        "OVERRIDDEN=from file\n"
        "export NOPE=1\n"
    )
    (daemon.dir / "later.env").write_text("PLAIN=later wins\n")
    daemon.start(
        {
            "envy": {
                "command": PRINT_ENV,
                "env_file": ["app.env", "-missing.env", "later.env"],
                "environment": {"OVERRIDDEN": "from environment"},
                "startsecs": 0,
                "autorestart": False,
            }
        }
    )
    env = env_of(daemon, "envy")
    assert env["PLAIN"] == "later wins"
    assert env["SINGLE"] == "its # kept"
    assert env["DOUBLE"] == 'say "hi"\\nraw'
    assert env["OVERRIDDEN"] == "from environment"
    assert "NOPE" not in env and "export NOPE" not in env


def test_missing_required_env_file_is_a_spawn_error_naming_it(daemon):
    daemon.start(
        {
            "envy": {
                "command": ["sleep", "30"],
                "env_file": ["/nonexistent/app.env"],
                "startretries": 0,
            }
        }
    )
    status = daemon.wait_state("envy", "FATAL")
    assert "/nonexistent/app.env" in status["description"], status
    assert "No such file" in status["description"], status
    # Once the file exists, a start reads it (read at each spawn).
    (daemon.dir / "nonexistent-ok.env").write_text("X=1\n")
    daemon.write_config({"envy": {"command": ["sleep", "30"], "env_file": ["nonexistent-ok.env"]}})
    daemon.ctl_ok("reload")
    daemon.wait_state("envy", "RUNNING")


@pytest.mark.timeout(90)
def test_four_workers_each_on_its_own_port(daemon):
    base = free_port()
    ports = [base + i for i in range(4)]
    for port in ports:
        www = daemon.dir / f"www{port}"
        www.mkdir()
        (www / "who").write_text(f"worker {port}\n")
    daemon.start(
        {
            "web": {
                "command": f"{sys.executable} -m http.server --bind 127.0.0.1 {{process_num:d}}",
                "numprocs": 4,
                "numprocs_start": base,
                "process_name": "web_{process_num}",
                "directory": str(daemon.dir / "www{process_num}"),
                "environment": {"PORT": "{process_num}", "BRACE": "{{literal}}"},
                "startsecs": 0,
            }
        }
    )

    def answers(port):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/who", timeout=2) as reply:
                return reply.read().decode()
        except OSError:
            return None

    for port in ports:
        assert wait_until(lambda p=port: answers(p), timeout=30) == f"worker {port}\n"
    pids = {daemon.status()[f"web:web_{p}"]["pid"] for p in ports}
    assert len(pids) == 4


def test_check_json_shows_instances_resolved_and_names_bad_fields(daemon):
    daemon.write_config(
        {
            "web": {
                "command": "app --port {process_num:d}",
                "numprocs": 2,
                "numprocs_start": 8000,
                "environment": {"NAME": "{program_name}-{process_num}", "RAW": "{{x}}"},
                "env_file": ["-/etc/app/{process_num}.env"],
            }
        }
    )
    res = daemon_check(daemon)
    instances = res["programs"]["web"]["instances"]
    assert instances["web:8001"]["command"][-1] == "8001"
    assert instances["web:8000"]["environment"]["NAME"] == "web-8000"
    assert instances["web:8000"]["environment"]["RAW"] == "{x}"
    assert instances["web:8001"]["env_file"] == ["-/etc/app/8001.env"]
    daemon.write_config({"web": {"command": "app {port}", "environment": {"A": "{oops"}}})
    res = daemon_check(daemon)
    assert not res["ok"]
    text = "\n".join(res["errors"])
    assert "programs.web.command" in text and "unknown field {port}" in text, text
    assert "programs.web.environment.A" in text, text


def daemon_check(daemon):
    res = subprocess.run(
        [*DAEMON_CMD, "-c", str(daemon.config), "--check", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return json.loads(res.stdout)


def test_env_file_the_programs_user_could_not_read_is_refused(daemon):
    """The daemon reads env files as root: a root-only file (or a symlink the program's
    user planted to one) must not reach a program that runs as another user."""
    secret = daemon.dir / "secret.env"
    secret.write_text("TOKEN=root-only\n")
    secret.chmod(0o600)
    public = daemon.dir / "public.env"
    public.write_text("GREETING=hello\n")
    public.chmod(0o644)
    link = daemon.dir / "planted.env"
    link.symlink_to(secret)
    os.chmod(daemon.dir, 0o755)
    daemon.start(
        {
            "spy": {
                "command": ["sleep", "30"],
                "user": "nobody",
                "env_file": [str(link)],
                "startretries": 0,
            },
            "ok": {
                "command": ["sh", "-c", "echo greeting=$GREETING"],
                "user": "nobody",
                "env_file": [str(public)],
                "startsecs": 0,
                "autorestart": False,
            },
        }
    )
    status = daemon.wait_state("spy", "FATAL")
    assert "may not read it" in status["description"], status
    wait_until(lambda: "greeting=hello" in daemon.read_log("ok"), message="ok to print")


def test_check_judges_each_process_own_paths(daemon):
    """--check looks at each process's own directory and env files, not the template."""
    for num in (5, 6):
        (daemon.dir / f"www{num}").mkdir()
    (daemon.dir / "www5" / "app5.env").write_text("A=1\n")  # against `directory`
    daemon.write_config(
        {
            "web": {
                "command": ["sleep", "30"],
                "numprocs": 2,
                "numprocs_start": 5,
                "directory": "www{process_num}",
                "env_file": ["app{process_num}.env", "-gone{process_num}.env"],
            }
        }
    )
    res = daemon_check(daemon)
    assert res["errors"] == [
        f"{daemon.config}: programs.web.env_file: no such file {daemon.dir}/www6/app6.env "
        f"(write -{daemon.dir}/www6/app6.env if it is optional); it cannot start (FATAL) until "
        "the file exists"
    ], res["errors"]
