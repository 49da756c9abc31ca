"""supervisorctl-lite's Supervisor words for changing the running config by group:
reread, update [GROUP...], add GROUP..., remove GROUP... (SPEC §12)."""

from __future__ import annotations

import json

import pytest

from integration.harness import helper


def sleeper(**extra) -> dict:
    program = {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 2}
    program.update(extra)
    return program


@pytest.mark.timeout(90)
def test_reread_update_add_remove(daemon):
    daemon.start(
        {"keep": sleeper(), "web1": sleeper(), "web2": sleeper(), "drop": sleeper()},
        groups={"web": {"programs": ["web1", "web2"]}},
    )
    daemon.wait_state("drop", "RUNNING")
    keep_pid = daemon.status("keep")["keep"]["pid"]
    res = daemon.ctl_ok("reread")
    assert res.stdout == "No config updates to processes\n", daemon.describe(res)

    daemon.write_config(
        {"keep": sleeper(), "web1": sleeper(stopwaitsecs=3), "web2": sleeper(), "new": sleeper()},
        groups={"web": {"programs": ["web1", "web2"]}},
    )
    res = daemon.ctl_ok("reread")
    assert res.stdout.splitlines() == ["drop: disappeared", "new: available", "web: changed"]
    res = daemon.ctl_ok("reread", "--json")
    assert json.loads(res.stdout)["groups"] == {
        "added": ["new"],
        "changed": ["web"],
        "removed": ["drop"],
    }
    assert set(daemon.status()) == {"keep", "web:web1", "web:web2", "drop"}

    res = daemon.ctl("update", "nope")
    assert res.returncode == 1 and "no such group: nope" in res.stderr, daemon.describe(res)
    res = daemon.ctl_ok("update", "web")
    assert "changed: web1" in res.stdout, daemon.describe(res)
    assert set(daemon.status()) == {"keep", "web:web1", "web:web2", "drop"}  # only web
    res = daemon.ctl_ok("update")
    assert set(daemon.status()) == {"keep", "web:web1", "web:web2", "new"}
    assert daemon.status("keep")["keep"]["pid"] == keep_pid

    res = daemon.ctl("remove", "new")
    assert res.returncode == 1 and "still running: new" in res.stderr, daemon.describe(res)
    daemon.ctl_ok("stop", "new")
    res = daemon.ctl_ok("remove", "new")
    assert res.stdout == "new: removed process group\n"
    assert "new" not in daemon.status()
    res = daemon.ctl_ok("reread")
    assert res.stdout == "new: available\n"
    res = daemon.ctl_ok("add", "new")
    assert res.stdout == "new: added process group\n"
    daemon.wait_state("new", "RUNNING")
    res = daemon.ctl("add", "new")
    assert res.returncode == 1 and "already active: new" in res.stderr, daemon.describe(res)
    res = daemon.ctl("add", "nope")
    assert res.returncode == 1 and "no such group: nope" in res.stderr, daemon.describe(res)


@pytest.mark.timeout(60)
def test_update_of_a_group_whose_dependency_is_not_loaded_is_refused(daemon):
    daemon.start({"a": sleeper()})
    daemon.write_config({"a": sleeper(), "db": sleeper(), "app": sleeper(depends_on=["db"])})
    res = daemon.ctl("update", "app")
    assert res.returncode == 1, daemon.describe(res)
    assert "depends on db, which would not be loaded" in res.stderr, daemon.describe(res)
    assert set(daemon.status()) == {"a"}
    daemon.ctl_ok("update", "app", "db")
    daemon.wait_state("app", "RUNNING")
