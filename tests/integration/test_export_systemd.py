"""`supervisord-lite export systemd`: the real command on real configs; every unit it
writes is checked by `systemd-analyze verify` where that tool is installed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from integration.harness import DAEMON_CMD, to_toml
from integration.systemd_units import needs_analyze, verify

pytestmark = pytest.mark.timeout(60)


def export(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*DAEMON_CMD, "export", "systemd", "-c", str(config), "-o", str(out), *extra],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def write_config(tmp: Path, programs: dict, groups: dict | None = None, **sup) -> Path:
    config = tmp / "sdl.toml"
    daemon = {"socket": str(tmp / "s.sock"), "pidfile": str(tmp / "p.pid"),
              "logfile": str(tmp / "d.log"), "log_dir": str(tmp)}  # fmt: skip
    tables = {"supervisord": {**daemon, **sup}}
    tables.update({f"programs.{name}": keys for name, keys in programs.items()})
    tables.update({f"groups.{name}": keys for name, keys in (groups or {}).items()})
    config.write_text(to_toml(tables))
    return config


def unit_keys(path: Path) -> dict[str, list[str]]:
    """`Key` -> its values, in order, over every section (comments skipped)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def unit_files(out: Path) -> list[Path]:
    """The units in `out`, without the export's hidden manifest."""
    return sorted(p for p in out.iterdir() if not p.name.startswith("."))


SLEEP = shutil.which("sleep")


def a_full_config(tmp: Path) -> Path:
    logs = tmp / "logs"
    logs.mkdir()
    return write_config(
        tmp,
        {
            "db": {"command": "sleep 300", "priority": 10, "user": "daemon",
                   "directory": str(tmp), "umask": 0o027,
                   "ready": {"notify": True, "timeout": 30}, "watchdog_sec": 20},
            "web": {"command": [SLEEP, "300"], "numprocs": 2, "depends_on": ["db"],
                    "environment": {"MSG": 'say "hi" 100% $HOME \\o/', "EMPTY": ""},
                    "exitcodes": [0, 2], "stopsignal": "INT", "stopwaitsecs": 7.5,
                    "stopasgroup": False, "redirect_stderr": True,
                    "stdout_logfile": str(logs / "web-{process_num}.log"),
                    "ready": {"tcp": "127.0.0.1:8000"}},
            "cron": {"command": ["sh", "-c", 'echo "$1; done" 50%', "x"], "autorestart": True,
                     "stdout_logfile": "none", "stderr_logfile": "/dev/stderr",
                     "backoff_max": 5, "startretries": 1, "startsecs": 3, "priority": 1000},
            "once": {"command": "true", "autorestart": False, "autostart": False,
                     "health": {"exec": ["true"]},
                     "limits": {"nofile": [1024, 4096], "core": "unlimited", "nice": 5,
                                "oom_score_adj": 300, "stack": "8MB"},
                     "memory_limit": "256MB"},
        },
        groups={"jobs": {"programs": ["cron", "once"]}},
        environment={"SHARED": "1"},
    )  # fmt: skip


def test_every_setting_lands_in_its_unit(tmp_path):
    out = tmp_path / "units"
    res = export(a_full_config(tmp_path), out)
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in out.iterdir())
    # numprocs as a template unit (web@0, web@1); a group's processes as instances
    assert names == sorted([
        "supervisord-lite-db.service", "supervisord-lite-web@.service",
        "supervisord-lite-jobs@cron.service", "supervisord-lite-jobs@once.service",
        "supervisord-lite@sdl.target", "supervisord-lite-jobs.target",
        ".supervisord-lite@sdl.target.manifest",
    ])  # fmt: skip

    db = unit_keys(out / "supervisord-lite-db.service")
    assert db["ExecStart"] == [f"{SLEEP} 300"]  # a bare name, resolved in PATH now
    assert db["User"] == ["daemon"] and db["WorkingDirectory"] == [str(tmp_path)]
    assert db["UMask"] == ["0027"]
    assert db["Type"] == ["notify"] and db["WatchdogSec"] == ["20s"]
    assert db["TimeoutStartSec"] == ["30s"]
    assert db["Restart"] == ["on-failure"] and "SuccessExitStatus" not in db
    assert db["StandardOutput"] == ["journal"] and db["StandardError"] == ["journal"]
    assert db["KillMode"] == ["control-group"] and db["KillSignal"] == ["SIGTERM"]
    assert "After" not in db  # the lowest priority waits for nothing

    web = unit_keys(out / "supervisord-lite-web@.service")
    assert web["Requires"] == ["supervisord-lite-db.service"]
    assert web["After"] == ["supervisord-lite-db.service"]
    assert web["Type"] == ["exec"]  # its tcp readiness has no systemd form: a warning
    assert web["SuccessExitStatus"] == ["2"]
    assert web["KillSignal"] == ["SIGINT"] and web["KillMode"] == ["process"]
    assert web["TimeoutStopSec"] == ["7.5s"]
    assert web["StandardOutput"] == [f"append:{tmp_path}/logs/web-%i.log"]
    assert web["StandardError"] == ["inherit"]
    env = dict(shlex.split(v)[0].split("=", 1) for v in web["Environment"])
    assert env == {"SHARED": "1", "MSG": 'say "hi" 100%% $HOME \\o/', "EMPTY": "",
                   "SUPERVISOR_ENABLED": "1",
                   "SUPERVISOR_PROCESS_NAME": "%i", "SUPERVISOR_GROUP_NAME": "web",
                   "SUPERVISOR_PROCESS_NUM": "%i"}  # fmt: skip

    cron = unit_keys(out / "supervisord-lite-jobs@cron.service")
    sh = shutil.which("sh")
    # quoted as systemd reads it; % doubled so it is no specifier
    assert shlex.split(cron["ExecStart"][0]) == [sh, "-c", 'echo "$$1; done" 50%%', "x"]
    assert cron["Restart"] == ["always"]
    assert cron["StandardOutput"] == ["null"] and cron["StandardError"] == ["journal"]
    assert cron["StartLimitBurst"] == ["2"]
    # priority 1000 after the 999s, they after db's 10: a chain orders the tiers
    assert cron["After"] == ["supervisord-lite-web@0.service supervisord-lite-web@1.service "
                             "supervisord-lite-jobs@once.service"]  # fmt: skip
    once = unit_keys(out / "supervisord-lite-jobs@once.service")
    assert once["Restart"] == ["no"]

    target = unit_keys(out / "supervisord-lite@sdl.target")  # named after sdl.toml
    wanted = target["Wants"][0].split()
    assert "supervisord-lite-jobs@once.service" not in wanted  # autostart = false
    assert sorted(wanted) == [
        "supervisord-lite-db.service",
        "supervisord-lite-jobs@cron.service",
        "supervisord-lite-web@0.service",
        "supervisord-lite-web@1.service",
    ]
    # a [groups.*] table is a target too, as `GROUP:*` is for the ctl
    group = unit_keys(out / "supervisord-lite-jobs.target")
    assert group["Wants"] == ["supervisord-lite-jobs@cron.service"]
    assert cron["PartOf"] == ["supervisord-lite@sdl.target supervisord-lite-jobs.target"]
    assert web["PartOf"] == ["supervisord-lite@sdl.target"]

    # what systemd cannot hold: a warning naming the key, and a comment in the unit
    warnings = res.stderr.splitlines()
    for expected in (
        "programs.web.ready: tcp 127.0.0.1:8000",
        "programs.once.health: exec true",
        "programs.cron.backoff_max:",
        "programs.cron.startsecs:",
        "programs.web.stdout_logfile: systemd does not rotate it",
        f"programs.cron.command: 'sh' resolved to {sh}",
    ):
        assert any(w.startswith(expected) for w in warnings), (expected, res.stderr)
    assert not any(w.startswith("programs.web.backoff_max") for w in warnings)  # a default
    text = (out / "supervisord-lite-web@.service").read_text()
    assert "# not carried over exactly: ready: tcp 127.0.0.1:8000" in text
    once = unit_keys(out / "supervisord-lite-jobs@once.service")
    assert once["LimitNOFILE"] == ["1024:4096"] and once["LimitCORE"] == ["infinity:infinity"]
    assert once["LimitSTACK"] == [f"{8 * 2**20}:{8 * 2**20}"]
    assert (once["Nice"], once["OOMScoreAdjust"]) == (["5"], ["300"])
    assert once["MemoryMax"] == [str(256 * 2**20)]
    assert "Nice" not in unit_keys(out / "supervisord-lite-web@.service")


@needs_analyze
def test_systemd_analyze_verifies_every_unit(tmp_path):
    out = tmp_path / "units"
    res = export(a_full_config(tmp_path), out)
    assert res.returncode == 0, res.stderr
    units = unit_files(out)
    checked = verify(units, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr == "", checked.stderr  # not even a warning


@needs_analyze
def test_verify_would_catch_a_broken_unit(tmp_path):
    """The check above can fail: a unit naming a missing binary does not pass."""
    out = tmp_path / "units"
    config = write_config(tmp_path, {"x": {"command": [str(tmp_path / "nothere")]}})
    assert export(config, out).returncode == 0
    checked = verify([out / "supervisord-lite-x.service"], tmp_path)
    assert checked.returncode != 0 and "nothere" in checked.stderr


@pytest.mark.skipif(shutil.which("systemd-escape") is None, reason="no systemd-escape")
def test_unit_names_are_systemd_escape_s(tmp_path):
    programs = {"my-web": {"command": "true", "numprocs": 2,
                           "process_name": "{program_name}.{process_num}"},
                '"a.b_c"': {"command": "true"}}  # fmt: skip
    out = tmp_path / "units"
    assert export(write_config(tmp_path, programs), out).returncode == 0
    # GROUP:PROCESS is the instance PROCESS of GROUP: systemd-escape of each part
    parts = ["my-web", "my-web.0", "my-web.1", "a.b_c"]
    escaped = subprocess.run(["systemd-escape", *parts], capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
    assert escaped[0] == "my\\x2dweb"
    expected = {
        f"supervisord-lite-{escaped[0]}@{escaped[1]}.service",
        f"supervisord-lite-{escaped[0]}@{escaped[2]}.service",
        f"supervisord-lite-{escaped[3]}.service",
        "supervisord-lite@sdl.target",
    }
    assert {p.name for p in unit_files(out)} == expected


def test_never_overwrites_what_it_did_not_write(tmp_path):
    out = tmp_path / "units"
    out.mkdir()
    mine = out / "supervisord-lite-a.service"
    mine.write_text("[Service]\nExecStart=/bin/true\n")
    config = write_config(tmp_path, {"a": {"command": "true"}, "b": {"command": "true"}})
    res = export(config, out)
    assert res.returncode == 1
    assert f"{mine}: exists and was not written by export systemd" in res.stderr
    assert mine.read_text() == "[Service]\nExecStart=/bin/true\n"
    assert not (out / "supervisord-lite-b.service").exists()  # nothing half-written
    res = export(config, out, "--force")
    assert res.returncode == 0, res.stderr
    assert f"ExecStart={shutil.which('true')}" in mine.read_text()
    # its own files are rewritten freely, and a program gone from the config loses its unit
    config = write_config(tmp_path, {"a": {"command": "true"}})
    res = export(config, out)
    assert res.returncode == 0, res.stderr
    assert f"removed {out / 'supervisord-lite-b.service'}" in res.stdout
    assert [p.name for p in unit_files(out)] == [
        "supervisord-lite-a.service", "supervisord-lite@sdl.target"]  # fmt: skip


def test_config_errors_exit_2_and_say_where(tmp_path):
    config = write_config(tmp_path, {"web": {"command": "true", "startsecs": "x"}})
    res = export(config, tmp_path / "units")
    assert res.returncode == 2
    assert re.search(r"sdl.toml: programs\.web\.startsecs: ", res.stderr), res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "units").exists()
    res = subprocess.run([*DAEMON_CMD, "export", "launchd", "-o", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    assert res.returncode == 2 and "export systemd" in res.stderr


def test_an_event_listener_is_not_exported(tmp_path):
    config = write_config(tmp_path, {"web": {"command": "sleep 60"}})
    config.write_text(
        config.read_text() + '\n[listeners.mon]\ncommand = "mon"\nevents = ["TICK"]\n'
    )
    out = tmp_path / "units"
    res = export(config, out)
    assert res.returncode == 2, res
    assert "listeners.mon: an event listener speaks to supervisord-lite" in res.stderr
    assert "nothing written" in res.stderr and not out.exists()
