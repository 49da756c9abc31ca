"""[programs.NAME.limits], memory_limit, memory_check_interval and cgroup_root: values
and golden error messages."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from supervisord_lite.config.limits import UNLIMITED
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError

pytestmark = pytest.mark.timeout(30)


def load(tmp_path, monkeypatch, text: str):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.toml").write_text(textwrap.dedent(text))
    try:
        return load_config("example.toml", euid=0), []
    except ConfigError as exc:
        return None, exc.errors


def test_limits_values(tmp_path, monkeypatch):
    conf, errors = load(
        tmp_path,
        monkeypatch,
        """
        [supervisord]
        cgroup_root = "cg"
        [programs.web]
        command = "true"
        memory_limit = "512MB"
        memory_check_interval = 0.5
        [programs.web.limits]
        oom_score_adj = 500
        nofile = [1024, 4096]
        stack = ["8MB", "unlimited"]
        core = "unlimited"
        cpu = 60
        nice = -5
        """,
    )
    assert errors == []
    web = conf.programs["web"]
    # In one fixed order whatever the file's, so equal tables compare equal on reload.
    assert web.limits == (
        ("nofile", (1024, 4096)),
        ("core", (UNLIMITED, UNLIMITED)),
        ("stack", (8 * 1024**2, UNLIMITED)),
        ("cpu", (60, 60)),
        ("nice", -5),
        ("oom_score_adj", 500),
    )
    assert web.memory_limit == 512 * 1024**2
    assert web.memory_check_interval == 0.5
    assert conf.cgroup_root == str(tmp_path / "cg")


def test_no_limits_by_default(tmp_path, monkeypatch):
    conf, _ = load(tmp_path, monkeypatch, '[programs.web]\ncommand = "true"\n')
    web = conf.programs["web"]
    assert (web.limits, web.memory_limit, web.memory_check_interval) == ((), None, 5.0)
    assert conf.cgroup_root is None


def test_limit_errors_name_file_table_and_key(tmp_path, monkeypatch):
    _, errors = load(
        tmp_path,
        monkeypatch,
        """
        [programs.web]
        command = "true"
        memory_limit = 0
        memory_check_interval = -1
        [programs.web.limits]
        nofile = [4096, 1024]
        nproc = "12MB"
        as = [1]
        fsize = ["1GB", "x"]
        nice = 20
        oom_score_adj = -1001
        nofle = 3
        """,
    )
    assert errors == [
        'example.toml: programs.web.memory_limit: expected a size > 0 like "512MB", got 0',
        "example.toml: programs.web.memory_check_interval: expected a number > 0, got -1",
        "example.toml: programs.web.limits.nofile: "
        "the soft limit 4096 is above the hard limit 1024",
        'example.toml: programs.web.limits.nproc: expected an integer >= 0 or "unlimited", '
        'got "12MB"',
        "example.toml: programs.web.limits.as: expected [soft, hard], got [1]",
        'example.toml: programs.web.limits.fsize[1]: expected a size like "512MB", '
        'an integer >= 0 or "unlimited", got "x"',
        "example.toml: programs.web.limits.nice: expected an integer -20..19, got 20",
        "example.toml: programs.web.limits.oom_score_adj: "
        "expected an integer -1000..1000, got -1001",
        'example.toml: programs.web.limits.nofle: unknown limit (did you mean "nofile"?); '
        "known: nofile, nproc, core, memlock, stack, as, fsize, cpu, nice, oom_score_adj, "
        "cpu_quota, tasks_max",
    ]


def test_soft_unlimited_above_a_finite_hard(tmp_path, monkeypatch):
    _, errors = load(
        tmp_path,
        monkeypatch,
        '[programs.web]\ncommand = "true"\nlimits = { core = ["unlimited", 0] }\n',
    )
    assert errors == [
        'example.toml: programs.web.limits.core: the soft limit "unlimited" is above '
        "the hard limit 0"
    ]


def test_limits_not_a_table(tmp_path, monkeypatch):
    _, errors = load(tmp_path, monkeypatch, '[programs.web]\ncommand = "true"\nlimits = 5\n')
    assert errors == [
        "example.toml: programs.web.limits: expected a table like { nofile = 4096 }, got 5"
    ]


def test_check_json_shows_limits(tmp_path):
    (tmp_path / "c.toml").write_text(
        '[programs.web]\ncommand = "true"\nmemory_limit = "1MB"\n'
        'limits = { nofile = [10, "unlimited"], nice = 3 }\n'
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisord_lite",
            "-c",
            str(tmp_path / "c.toml"),
            "--check",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    web = json.loads(res.stdout)["programs"]["web"]
    assert web["limits"] == {"nofile": [10, "unlimited"], "nice": 3}
    assert web["memory_limit"] == 1024 * 1024
    assert web["memory_check_interval"] == 5.0


def test_cpu_quota_and_tasks_max_values_and_errors(tmp_path, monkeypatch):
    text = '[programs.w]\ncommand = "true"\nlimits = { cpu_quota = "%s", tasks_max = %s }\n'
    conf, errors = load(tmp_path, monkeypatch, text % ("12.5%", "64"))
    assert errors == []
    assert dict(conf.programs["w"].limits) == {"cpu_quota": 12.5, "tasks_max": 64}
    _, errors = load(tmp_path, monkeypatch, text % ("50", "0"))
    assert any("programs.w.limits.cpu_quota" in e and '"50%"' in e for e in errors), errors
    assert any("programs.w.limits.tasks_max" in e for e in errors), errors
    _, errors = load(tmp_path, monkeypatch, text % ("0%", "1"))
    assert any("limits.cpu_quota" in e for e in errors), errors


def test_cpu_max_text():
    from supervisord_lite.linux.cgroups import cpu_max

    assert cpu_max(50) == "50000 100000"
    assert cpu_max(250) == "250000 100000"
    assert cpu_max(0.01) == "1000 100000"  # the kernel's floor: 1 ms a period
