"""`export systemd` of the lifecycle keys (docs/export.md): oneshot as Type=oneshot,
hooks as ExecStartPre= ... ExecStopPost=, conditions as Requires=/Wants= + After=, and
warnings where systemd cannot say the same; systemd-analyze verifies the units."""

from __future__ import annotations

import shutil

import pytest

from integration.systemd_units import needs_analyze, verify
from integration.test_export_systemd import export, unit_files, unit_keys, write_config

pytestmark = pytest.mark.timeout(60)

SLEEP, TRUE, ECHO = shutil.which("sleep"), shutil.which("true"), shutil.which("echo")


def lifecycle_config(tmp):
    return write_config(
        tmp,
        {
            "migrate": {"command": [TRUE], "oneshot": True, "autorestart": True},
            "db": {"command": [SLEEP, "300"], "health": {"exec": [TRUE]}},
            "app": {
                "command": [SLEEP, "300"],
                "depends_on": {"migrate": "completed_successfully", "db": "healthy"},
                "exec_start_pre": [[ECHO, "pre one"], [ECHO, "pre-2"]],
                "exec_start_post": [[ECHO, "post"]],
                "exec_stop": [[ECHO, "stop"]],
                "exec_stop_post": [[ECHO, "stop post"]],
                "hook_timeout": 5,
            },
            "report": {"command": [TRUE], "oneshot": True, "depends_on": {"migrate": "completed"}},
        },
    )


def test_lifecycle_keys_land_in_their_units(tmp_path):
    out = tmp_path / "units"
    res = export(lifecycle_config(tmp_path), out)
    assert res.returncode == 0, res.stderr
    migrate = unit_keys(out / "supervisord-lite-migrate.service")
    assert migrate["Type"] == ["oneshot"] and migrate["RemainAfterExit"] == ["yes"]
    assert migrate["Restart"] == ["on-failure"]
    app = unit_keys(out / "supervisord-lite-app.service")
    assert app["ExecStartPre"] == [f'{ECHO} "pre one"', f"{ECHO} pre-2"]
    assert app["ExecStartPost"] == [f"-{ECHO} post"]
    assert app["ExecStop"] == [f"{ECHO} stop"]
    assert app["ExecStopPost"] == [f'{ECHO} "stop post"']
    assert app["TimeoutStartSec"] == ["15s"]  # hook_timeout for each of 3 start hooks
    requires = app["Requires"][0].split()
    assert set(requires) == {"supervisord-lite-migrate.service", "supervisord-lite-db.service"}
    report = unit_keys(out / "supervisord-lite-report.service")
    assert report["Wants"] == ["supervisord-lite-migrate.service"] and "Requires" not in report
    assert "supervisord-lite-migrate.service" in report["After"][0]
    assert 'programs.app.depends_on: db = "healthy": systemd has no health probes' in res.stderr
    assert "programs.app.hook_timeout: systemd bounds a unit's whole start" in res.stderr


@needs_analyze
def test_systemd_analyze_verifies_the_lifecycle_units(tmp_path):
    out = tmp_path / "units"
    res = export(lifecycle_config(tmp_path), out)
    assert res.returncode == 0, res.stderr
    checked = verify(unit_files(out), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr == "", checked.stderr
