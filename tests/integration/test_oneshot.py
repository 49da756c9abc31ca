"""One-shot programs and dependency conditions (SPEC §13, docs/lifecycle.md), through the
real daemon: a migrate-then-serve pair, every condition kind, and conditions that can no
longer be met failing the dependent at once with the reason."""

from __future__ import annotations

import json
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

PY = sys.executable


def job(code: int, sleep: float = 0.0, mark: str | None = None, **extra):
    """A oneshot that sleeps, maybe touches `mark`, and exits with `code`."""
    script = f"import time, sys; time.sleep({sleep}); "
    if mark:
        script += f"open({mark!r}, 'w').write('done'); "
    script += f"sys.exit({code})"
    return {"command": [PY, "-c", script], "oneshot": True, **extra}


def server(**extra):
    return {"command": ["sleep", "300"], "startsecs": 0, **extra}


def test_migrate_then_serve(daemon):
    mark = str(daemon.path("migrated"))
    # The app checks, when it starts, that the migration had finished.
    check = (
        f"import os, sys, time; sys.exit(3) if not os.path.exists({mark!r}) else time.sleep(300)"
    )
    daemon.start(
        {
            "migrate": job(0, sleep=1.0, mark=mark, startretries=0),
            "app": {
                "command": [PY, "-c", check],
                "startsecs": 0.5,
                "startretries": 0,
                "depends_on": {"migrate": "completed_successfully"},
            },
        }
    )
    st = daemon.status()
    assert st["app"]["state"] == "STOPPED", st
    assert "waiting for migrate" in st["app"]["description"], st
    done = daemon.wait_state("migrate", "EXITED")
    assert done["completed"] is True and done["exitstatus"] == 0, done
    assert done["description"].startswith("completed: exit status 0"), done
    daemon.wait_state("app", "RUNNING")
    # A completed job is not restarted, and stays EXITED.
    st = daemon.status()["migrate"]
    assert st["state"] == "EXITED" and st["restarts"] == 0, st


def test_failing_job_fails_the_app_at_once_with_its_reason(daemon):
    daemon.start(
        {
            "migrate": job(4, startretries=0),
            "app": server(depends_on={"migrate": "completed_successfully"}),
        }
    )
    job_st = daemon.wait_state("migrate", "FATAL")
    assert job_st["completed"] is False, job_st
    app = daemon.wait_until(lambda: _refused(daemon, "app"))
    assert "dependency migrate is FATAL" in app["description"], app
    assert "exit status 4" in app["description"], app
    assert '"completed_successfully" can no longer be met' in app["description"], app
    # `start` answers with the reason too, never waits forever.
    res = daemon.ctl("start", "app")
    assert res.returncode != 0 and "exit status 4" in res.stdout + res.stderr, daemon.describe(res)


def _refused(daemon, name):
    st = daemon.status()[name]
    return st if "not started:" in st["description"] else None


def test_failed_attempts_are_retried_then_fatal(daemon):
    counter = str(daemon.path("tries"))
    # Fails twice, then succeeds: the retries are the failed-start retries.
    script = (
        f"import os, sys; p={counter!r}; n=int(open(p).read()) if os.path.exists(p) else 0; "
        "open(p,'w').write(str(n+1)); sys.exit(0 if n >= 2 else 1)"
    )
    daemon.start({"job": {"command": [PY, "-c", script], "oneshot": True, "startretries": 3}})
    st = daemon.wait_state("job", "EXITED", timeout=15)
    assert st["completed"] is True, st
    assert open(counter).read() == "3"


def test_completed_accepts_any_exit_code(daemon):
    daemon.start(
        {
            "job": job(5, startretries=0),
            "after": server(depends_on={"job": "completed"}),
        }
    )
    daemon.wait_state("after", "RUNNING")
    assert daemon.status()["job"]["state"] == "FATAL"


def test_started_condition_needs_only_a_spawn(daemon):
    daemon.start(
        {
            # Never ready (startsecs long): "started" does not wait for RUNNING.
            "slow": {"command": ["sleep", "300"], "startsecs": 100},
            "after": server(depends_on={"slow": "started"}),
        }
    )
    daemon.wait_state("after", "RUNNING")
    assert daemon.status()["slow"]["state"] == "STARTING"


def test_healthy_condition_waits_for_a_passing_probe(daemon):
    flag = daemon.path("healthy-now")
    daemon.start(
        {
            "db": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "health": {"exec": ["test", "-e", str(flag)], "interval": 0.2, "failures": 1000},
            },
            "app": server(depends_on={"db": "healthy"}),
        }
    )
    daemon.wait_state("db", "RUNNING")
    daemon.wait_until(lambda: "waiting for db" in daemon.status()["app"]["description"])
    flag.write_text("")
    daemon.wait_state("app", "RUNNING")


def test_ready_on_a_oneshot_means_completed_successfully(daemon):
    daemon.start({"job": job(0, sleep=0.5), "app": server(depends_on=["job"])})
    daemon.wait_state("app", "RUNNING")
    assert daemon.status()["job"]["state"] == "EXITED"


def test_dependency_stopped_by_hand_fails_the_waiting_dependent(daemon):
    daemon.start(
        {
            "job": job(0, sleep=300, stopwaitsecs=2),
            "app": server(depends_on={"job": "completed_successfully"}),
        }
    )
    daemon.wait_state("job", "STARTING")
    daemon.ctl_ok("stop", "job")
    app = daemon.wait_until(lambda: _refused(daemon, "app"))
    assert "dependency job is STOPPED" in app["description"], app


def test_condition_errors_and_cycles_are_config_errors(daemon):
    daemon.write_config(
        {
            "a": server(depends_on={"b": "completed"}),
            "b": server(depends_on={"a": "started"}),
            "c": server(depends_on={"a": "finished"}),
            "d": server(depends_on={"a": "healthy"}),
            "e": job(0, ready={"tcp": "127.0.0.1:1"}),
        }
    )
    res = daemon.launch("--check", "--json")
    assert res.returncode == 2, daemon.describe(res)
    out = json.loads(res.stdout)
    errors = "\n".join(out["errors"])
    assert "programs.a.depends_on: dependency cycle: a -> b -> a" in errors, errors
    assert 'programs.c.depends_on.a: expected "started" | "ready"' in errors, errors
    assert 'programs.d.depends_on.a: "healthy" needs a [programs.a.health] probe' in errors
    assert "programs.e.ready: a oneshot program runs to completion" in errors, errors
    assert out["programs"]["b"]["depends_on"] == {"a": "started"}
    assert out["programs"]["a"]["oneshot"] is False


def test_list_form_still_shows_as_a_list(daemon):
    daemon.write_config({"a": server(), "b": server(depends_on=["a"])})
    res = daemon.launch("--check", "--json")
    out = json.loads(res.stdout)
    assert res.returncode == 0, daemon.describe(res)
    assert out["programs"]["b"]["depends_on"] == ["a"]


def test_launch_wait_counts_a_completed_job_as_up(daemon):
    daemon.write_config(
        {
            "migrate": job(0, sleep=0.5),
            "app": server(depends_on={"migrate": "completed_successfully"}),
        }
    )
    res = daemon.launch("--wait", timeout=30)
    assert res.returncode == 0, daemon.describe(res)
    st = daemon.status()
    assert st["migrate"]["state"] == "EXITED" and st["app"]["state"] == "RUNNING", st


def test_healthy_condition_met_by_the_first_probe(daemon):
    daemon.start(
        {
            "db": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "health": {"exec": ["true"], "interval": 0.2},
            },
            "app": server(depends_on={"db": "healthy"}),
        }
    )
    daemon.wait_state("app", "RUNNING")


def test_ctl_start_of_a_job_waits_for_it_to_complete(daemon):
    daemon.start(
        {
            "job": job(0, sleep=1.0, autostart=False),
            "bad": job(2, autostart=False, startretries=0),
        }
    )
    res = daemon.ctl("start", "job", timeout=20)
    assert res.returncode == 0 and "completed" in res.stdout, daemon.describe(res)
    assert daemon.status()["job"]["state"] == "EXITED"
    res = daemon.ctl("start", "bad", timeout=20)
    assert res.returncode != 0 and "exit status 2" in res.stdout + res.stderr, daemon.describe(res)
    res = daemon.ctl("start", "job", timeout=20)  # a completed job runs again
    assert res.returncode == 0 and "completed" in res.stdout, daemon.describe(res)
    assert daemon.status()["job"]["restarts"] == 0


def test_status_exit_code_counts_a_completed_job_as_fine(daemon):
    daemon.start({"job": job(0), "bad": job(1, startretries=0)})
    daemon.wait_state("job", "EXITED")
    daemon.wait_state("bad", "FATAL")
    assert daemon.ctl("status", "job").returncode == 0
    assert daemon.ctl("status", "bad").returncode == 3
