"""An upgrade is installed on disk, then `reexec` runs it (docs/zero-downtime.md). In
between, the running daemon must go on with the code it started with: a module it
loaded only at a request's need would come from the new files, half-installed or of
another version. So every module that a request, a spawn or a hook may need is loaded
at start; only the fresh processes of a reexec read the new files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from integration.harness import helper

pytestmark = pytest.mark.timeout(120)

PACKAGE = Path(__file__).resolve().parents[2] / "supervisord_lite"


def test_requests_after_the_package_on_disk_broke_use_the_code_loaded_at_start(daemon, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(
        PACKAGE, copy / "supervisord_lite", ignore=shutil.ignore_patterns("__pycache__")
    )
    env_file = tmp_path / "app.env"
    env_file.write_text("GREETING=hello\n")
    daemon.env["PYTHONPATH"] = str(copy)  # the daemon runs from the copy
    sleeper = {"command": ["sleep", "300"], "startsecs": 0}
    daemon.start(
        {
            "talker": {"command": helper("seqwriter", "--interval", 0.2), "startsecs": 0},
            "many": {**sleeper, "process_name": "{program_name}_{process_num}"},
            "hooked": {
                **sleeper,
                "autostart": False,
                "exec_start_pre": [["true"]],
                "env_file": [str(env_file)],
            },
        }
    )
    # Every module of the copy is broken now, as by an upgrade cut short.
    for module in (copy / "supervisord_lite").rglob("*.py"):
        module.write_text(module.read_text() + "\ndef broken(:\n")
    del daemon.env["PYTHONPATH"]  # the ctl runs from the intact package

    daemon.ctl_ok("start", "hooked")  # a hook and an env_file: spawn's side paths
    assert daemon.status("hooked")["hooked"]["state"] == "RUNNING"
    daemon.wait_until(lambda: "seq " in daemon.ctl_ok("tail", "talker").stdout)
    assert daemon.ctl_ok("maintail").stdout
    assert "2 processes" in daemon.ctl_ok("scale", "many", 2).stdout
    daemon.ctl_ok("restart", "talker")
    daemon.ctl_ok("reread")
    log = daemon.logfile.read_text()
    assert "internal error" not in log.lower() and "Traceback" not in log, log[-3000:]
