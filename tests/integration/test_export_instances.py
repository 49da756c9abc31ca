"""`export systemd` for issue 27's keys: EnvironmentFile=, per-instance values in a
template (%i), CPUQuota=, TasksMax=."""

from __future__ import annotations

import shutil

import pytest

from integration.systemd_units import needs_analyze, verify
from integration.test_export_systemd import export, unit_files, unit_keys, write_config

pytestmark = pytest.mark.timeout(60)

SLEEP = shutil.which("sleep")


def test_env_file_instances_and_quotas(tmp_path):
    config = write_config(
        tmp_path,
        {
            "web": {
                "command": [SLEEP, "{process_num}"],
                "numprocs": 2,
                "numprocs_start": 8000,
                "environment": {"PORT": "{process_num}"},
                "env_file": ["/etc/default/web", "-/etc/web/{process_num}.env"],
                "limits": {"cpu_quota": "50%", "tasks_max": 64},
            },
            "fixed": {
                "command": [SLEEP, "--port={process_num:d}"],
                "numprocs": 2,
                "numprocs_start": 10,
            },
        },
    )
    out = tmp_path / "units"
    res = export(config, out)
    assert res.returncode == 0, res.stderr
    names = [p.name for p in unit_files(out)]
    assert "supervisord-lite-web@.service" in names, names
    keys = unit_keys(out / "supervisord-lite-web@.service")
    assert keys["ExecStart"] == [f"{SLEEP} %i"]
    assert '"PORT=%i"' in keys["Environment"]
    assert keys["EnvironmentFile"] == ["/etc/default/web", "-/etc/web/%i.env"]
    assert keys["CPUQuota"] == ["50%"] and keys["TasksMax"] == ["64"]
    assert "programs.web.env_file" in res.stderr  # environment wins here, not in systemd
    # {process_num:d} cannot take %i: one unit per process, each with its own value.
    assert "supervisord-lite-fixed@11.service" in names, names
    keys = unit_keys(out / "supervisord-lite-fixed@11.service")
    assert keys["ExecStart"] == [f"{SLEEP} --port=11"]


@needs_analyze
def test_units_verify(tmp_path):
    config = write_config(
        tmp_path,
        {
            "web": {
                "command": [SLEEP, "{process_num}"],
                "numprocs": 2,
                "env_file": ["-/etc/web/{process_num}.env"],
                "limits": {"cpu_quota": "150%", "tasks_max": 64},
            }
        },
    )
    out = tmp_path / "units"
    assert export(config, out).returncode == 0
    checked = verify(unit_files(out), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
