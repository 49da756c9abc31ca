"""`export systemd` on the configs we ship and document: every file it writes, and the
target that pulls them all in, pass `systemd-analyze verify` (no ordering cycle, no
unit name systemd cannot load); numprocs becomes a template unit whose instances
systemd reads as the daemon runs them; and a second config exported into the same
directory leaves the first one's units alone."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest

from integration.systemd_units import (
    environment,
    needs_analyze,
    needs_systemd,
    parse,
    verify,
)
from integration.test_export_systemd import export, unit_files, unit_keys, write_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]


def doc_configs() -> list[tuple[str, str]]:
    """(id, text) of every ```toml block in README.md and docs/ that is a whole config:
    it parses and each of its programs has a command (the rest are fragments). A config
    with event listeners is left out: export refuses it by design (systemd has nothing
    that speaks the listener protocol; test_export_systemd.py checks the refusal)."""
    out = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        blocks = re.findall(r"```toml\n(.*?)```", md.read_text(), re.S)
        for n, block in enumerate(blocks):
            try:
                config = tomllib.loads(block)
            except tomllib.TOMLDecodeError:
                continue
            programs = config.get("programs")
            if "listeners" in config:
                continue
            if programs and all("command" in p for p in programs.values()):
                out.append((f"{md.name}#{n}", block))
    return out


CONFIGS = [("configs/example.toml", (ROOT / "configs/example.toml").read_text()), *doc_configs()]


def stub_missing_commands(text: str, bin_dir: Path) -> set[str]:
    """An executable in bin_dir for each bare command name this host lacks (gunicorn,
    redis-server ...); returns the absolute commands that are missing (verify names
    those, and only those, as not executable)."""
    bin_dir.mkdir(exist_ok=True)
    missing = set()
    hooks = ("exec_start_pre", "exec_start_post", "exec_stop", "exec_stop_post")
    for table in tomllib.loads(text)["programs"].values():
        commands = [table["command"], *(c for key in hooks for c in table.get(key, ()))]
        for command in commands:
            name = command[0] if isinstance(command, list) else command.split()[0]
            if os.path.isabs(name):
                if not os.access(name, os.X_OK):
                    missing.add(name)
            elif "/" not in name and shutil.which(name) is None:
                stub = bin_dir / name
                stub.write_text("#!/bin/sh\nexit 0\n")
                stub.chmod(0o755)
    return missing


@needs_analyze
@pytest.mark.parametrize("name,text", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_shipped_and_documented_configs_export_to_units_systemd_accepts(name, text, tmp_path,
                                                                         monkeypatch):  # fmt: skip
    assert len(CONFIGS) >= 4  # the example, and the docs' complete configs
    config = tmp_path / "app.toml"
    config.write_text(text)
    missing = stub_missing_commands(text, tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    out = tmp_path / "units"
    res = export(config, out)
    assert res.returncode == 0, res.stderr
    units = unit_files(out)
    assert all(":" not in p.name for p in units), units  # systemd-analyze's FILE:NAME
    checked = verify(units, tmp_path)
    expected = {f"Command {c} is not executable: No such file or directory" for c in missing}
    problems = [line for line in checked.stderr.splitlines() if line.split(": ", 1)[-1]
                not in expected and not any(line.endswith(e) for e in expected)]  # fmt: skip
    assert problems == [], checked.stderr
    assert checked.returncode == (1 if missing else 0), checked.stderr
    # the target pulls in every autostart unit: verified with its dependencies
    target = out / "supervisord-lite@app.target"
    checked = verify([target], tmp_path)
    assert "ordering cycle" not in checked.stderr, checked.stderr
    assert "not found" not in checked.stderr, checked.stderr


def test_priority_never_orders_against_depends_on(tmp_path):
    """configs/example.toml's shape: the workers start early by priority but depend on
    web; web must not be ordered after them (systemd would find a cycle)."""
    programs = {"web": {"command": "true"},
                "worker": {"command": "true", "priority": 500, "depends_on": ["web"]},
                "late": {"command": "true", "priority": 2000}}  # fmt: skip
    out = tmp_path / "units"
    assert export(write_config(tmp_path, programs), out).returncode == 0
    web = unit_keys(out / "supervisord-lite-web.service")
    worker = unit_keys(out / "supervisord-lite-worker.service")
    late = unit_keys(out / "supervisord-lite-late.service")
    assert "After" not in web
    assert worker["After"] == ["supervisord-lite-web.service"]
    assert late["After"] == ["supervisord-lite-worker.service"]  # the round before it


@needs_systemd
def test_a_numprocs_template_gives_each_instance_its_own_values(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    programs = {"worker": {"command": "true", "numprocs": 3, "numprocs_start": 5,
                           "stdout_logfile": str(logs / "w-{process_num}.log")},
                "padded": {"command": "true", "numprocs": 2,
                           "process_name": "{process_num:02d}"}}  # fmt: skip
    out = tmp_path / "units"
    res = export(write_config(tmp_path, programs), out)
    assert res.returncode == 0, res.stderr
    names = [p.name for p in unit_files(out)]
    # {process_num:02d} has no %i form: its instances are units of their own
    assert names == ["supervisord-lite-padded@00.service", "supervisord-lite-padded@01.service",
                     "supervisord-lite-worker@.service", "supervisord-lite@sdl.target"]  # fmt: skip
    wanted = unit_keys(out / "supervisord-lite@sdl.target")["Wants"][0].split()
    assert [w for w in wanted if "worker" in w] == [
        f"supervisord-lite-worker@{n}.service" for n in (5, 6, 7)]  # fmt: skip
    dump = parse(out, wanted)
    for n in (5, 6, 7):
        unit = f"supervisord-lite-worker@{n}.service"
        env = environment(dump, unit)
        assert f"SUPERVISOR_PROCESS_NUM={n}" in env and f"SUPERVISOR_PROCESS_NAME={n}" in env
        section = dump.split(f"-> Unit {unit}:\n", 1)[1].split("\n\t-> Unit ", 1)[0]
        assert f"StandardOutputFileToAppend: {logs}/w-{n}.log" in section
        assert f"Description: worker:{n} (supervisord-lite program worker)" in section
    env = environment(dump, "supervisord-lite-padded@01.service")
    assert "SUPERVISOR_PROCESS_NAME=01" in env and "SUPERVISOR_PROCESS_NUM=1" in env


def test_a_second_config_keeps_the_first_ones_units(tmp_path):
    out = tmp_path / "units"
    first = tmp_path / "one"
    second = tmp_path / "two"
    first.mkdir(), second.mkdir()
    config_a = write_config(first, {"web": {"command": "true"}, "db": {"command": "true"}})
    config_b = write_config(second, {"api": {"command": "true"}})
    config_a = config_a.rename(first / "shop.toml")
    config_b = config_b.rename(second / "blog.toml")
    assert export(config_a, out).returncode == 0
    res = export(config_b, out)
    assert res.returncode == 0, res.stderr
    assert "removed" not in res.stdout
    names = [p.name for p in unit_files(out)]
    assert names == ["supervisord-lite-api.service", "supervisord-lite-db.service",
                     "supervisord-lite-web.service", "supervisord-lite@blog.target",
                     "supervisord-lite@shop.target"]  # fmt: skip
    shop = unit_keys(out / "supervisord-lite@shop.target")
    assert shop["Wants"] == ["supervisord-lite-web.service supervisord-lite-db.service"]
    # a program leaving a config: only that config's unit goes
    config_a.write_text(config_a.read_text().replace('[programs.db]\ncommand = "true"\n', ""))
    res = export(config_a, out)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("removed") == 1 and "supervisord-lite-db.service" in res.stdout
    assert (out / "supervisord-lite-api.service").exists()
    # a unit name another config's export holds is refused, nothing written ...
    config_b.write_text(config_b.read_text() + '\n[programs.web]\ncommand = "sleep 1"\n')
    before = (out / "supervisord-lite-web.service").read_text()
    res = export(config_b, out)
    assert res.returncode == 1
    assert f"the export of {config_a} wrote it: two configs cannot share a unit name" in res.stderr
    assert (out / "supervisord-lite-web.service").read_text() == before
    # ... unless taken over with --force; then the first export no longer removes it
    assert export(config_b, out, "--force").returncode == 0
    config_a.write_text(config_a.read_text().replace('[programs.web]\ncommand = "true"\n', ""))
    res = export(config_a, out)
    assert res.returncode == 0, res.stderr
    assert "removed" not in res.stdout
    assert "sleep" in (out / "supervisord-lite-web.service").read_text()


def test_files_it_did_not_write_are_never_removed(tmp_path):
    out = tmp_path / "units"
    config = write_config(tmp_path, {"a": {"command": "true"}})
    assert export(config, out).returncode == 0
    # a unit of ours that its manifest does not list (another tool copied it in)
    copied = out / "supervisord-lite-old.service"
    copied.write_text((out / "supervisord-lite-a.service").read_text())
    hand = out / "supervisord-lite-hand.service"
    hand.write_text("[Service]\nExecStart=/bin/true\n")
    res = export(config, out)
    assert res.returncode == 0 and "removed" not in res.stdout
    assert copied.exists() and hand.exists()


def test_health_beside_notify_readiness_is_warned(tmp_path):
    programs = {"db": {"command": "true", "ready": {"notify": True},
                       "health": {"tcp": "127.0.0.1:5432"}}}  # fmt: skip
    out = tmp_path / "units"
    res = export(write_config(tmp_path, programs), out)
    assert res.returncode == 0, res.stderr
    assert "programs.db.health: tcp 127.0.0.1:5432: systemd has no health probes" in res.stderr
    assert "not carried over exactly: health:" in (out / "supervisord-lite-db.service").read_text()
    assert stat.S_IMODE((out / "supervisord-lite-db.service").stat().st_mode) == 0o644


def test_a_colon_in_the_config_name_stays_out_of_the_target_name(tmp_path):
    config = write_config(tmp_path, {"a": {"command": "true"}}).rename(tmp_path / "x:y.toml")
    out = tmp_path / "units"
    assert export(config, out).returncode == 0
    assert [p.name for p in unit_files(out)] == [
        "supervisord-lite-a.service", "supervisord-lite@x\\x3ay.target"]  # fmt: skip


def test_a_target_taken_over_with_force_keeps_the_other_configs_units(tmp_path):
    out = tmp_path / "units"
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first = write_config(tmp_path / "a", {"web": {"command": "true"}})
    second = write_config(tmp_path / "b", {"api": {"command": "true"}})  # also sdl.toml
    assert export(first, out).returncode == 0
    res = export(second, out)
    assert res.returncode == 1
    assert f"the export of {first} wrote it; this config's target has the same name" in res.stderr
    res = export(second, out, "--force")
    assert res.returncode == 0 and "removed" not in res.stdout, res.stdout
    assert (out / "supervisord-lite-web.service").exists()
