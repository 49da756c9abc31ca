"""The oracle, end to end: for every corpus config, `supervisord-lite convert` then
`supervisord-lite -c OUT --check --json` resolves each process exactly as supervisor's
own ServerOptions does (full name, argv, every supervision setting, log paths, group
membership); each difference left is a documented deviation whose warning is asserted.

Also: --check --json of a converted 1000-program config (speed measured, not timed here).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
from convert_corpus.oracle import (
    CORPUS,
    CORPUS_ENV,
    supervisor_listeners,
    supervisor_processes,
    supervisor_umask,
)

from supervisord_lite.base.event_types import expand

pytestmark = pytest.mark.timeout(60)

CONFIGS = sorted(glob.glob(os.path.join(CORPUS, "*.conf")))


def sdl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "supervisord_lite", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


@pytest.fixture
def corpus_env(monkeypatch):
    for key, value in CORPUS_ENV.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


def resolved(path: str, out: str, env: dict[str, str]) -> tuple[dict, list[str]]:
    """(the --check --json object of the converted file, convert's warnings)."""
    result = sdl("convert", path, "-o", out, env=env)
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    result = sdl("-c", out, "--check", "--json", env=env)
    assert "Traceback" not in result.stderr
    checked = json.loads(result.stdout)
    # The corpus names commands this host lacks (php-fpm, celery ...): only that may fail.
    for error in checked["errors"]:
        assert "command: no such file" in error, error
    assert result.returncode == (0 if checked["ok"] else 2)
    return checked, warnings


def per_process(checked: dict) -> dict[str, tuple[dict, dict]]:
    """{full name: (its program object, its log files)}"""
    out = {}
    for program in checked["programs"].values():
        if "listener" in program:  # an [eventlistener:x]: test_listeners_become_listeners
            continue
        for name in program["processes"]:
            assert name not in out
            out[name] = (program, program["logfiles"][name])
    return out


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_converted_config_resolves_as_supervisord_does(path, corpus_env, tmp_path):
    theirs = supervisor_processes(path)
    checked, warnings = resolved(path, str(tmp_path / "out.toml"), corpus_env)
    mine = per_process(checked)
    assert sorted(mine) == sorted(theirs)
    for name, want in theirs.items():
        program, logs = mine[name]
        assert program["command"] == want["command"], name
        assert program["directory"] == want["directory"], name
        assert program["environment"] == want["environment"], name
        assert program["user"] == want["user"], name
        umask = want["umask"] if want["umask"] is not None else supervisor_umask(path)
        assert program["umask"] == umask, name
        for key in (
            "priority",
            "autostart",
            "autorestart",
            "exitcodes",
            "startsecs",
            "startretries",
            "stopsignal",
            "stopwaitsecs",
            "redirect_stderr",
            "group",
            "group_priority",
        ):
            assert program[key] == want[key], (name, key)
        assert program["backoff_max"] == (0 if want["autorestart"] is not False else 30), name
        assert program["stopasgroup"] == (want["stopasgroup"] or want["killasgroup"]), name
        for stream in ("stdout", "stderr"):
            expected = want[f"{stream}_logfile"]
            if expected == "auto":  # a temp file there, NAME.stream.log here: warned
                assert logs[stream].endswith(f".{stream}.log"), name
                assert any("AUTO program logs" in w for w in warnings)
            else:
                assert logs[stream] == expected, (name, stream)
            for key in ("logfile_maxbytes", "logfile_backups"):
                if not want["redirect_stderr"] or stream == "stdout":
                    assert program[f"{stream}_{key}"] == want[f"{stream}_{key}"], (name, key)
    groups = {}
    for name, want in theirs.items():
        groups.setdefault(want["group"], set()).add(name)
    assert {g: set(spec["processes"]) for g, spec in checked_groups(checked).items()} == groups


def checked_groups(checked: dict) -> dict[str, dict]:
    """Each group's full process names, from --check --json's groups and programs."""
    out = {}
    for group, spec in checked["groups"].items():
        if any("listener" in checked["programs"][p] for p in spec["programs"]):
            continue  # a listener's own group: test_listeners_become_listeners
        names = [n for p in spec["programs"] for n in checked["programs"][p]["processes"]]
        out[group] = {"processes": names, "priority": spec["priority"]}
    return out


def test_a_thousand_converted_programs_check_quickly(tmp_path, corpus_env):
    """Measured for the report: --check --json of a converted 1000-program config."""
    lines = ["[supervisord]", f"logfile={tmp_path}/sd.log", ""]
    for n in range(1000):
        lines += [f"[program:p{n}]", "command=/bin/sleep 1000", "stdout_logfile=NONE", ""]
    (tmp_path / "big.conf").write_text("\n".join(lines))
    checked, _ = resolved(str(tmp_path / "big.conf"), str(tmp_path / "big.toml"), corpus_env)
    assert checked["ok"] and len(checked["programs"]) == 1000


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_listeners_become_listeners(path, corpus_env, tmp_path):
    """Every [eventlistener:x] that is not superlance's memmon, httpok or a mailer (those
    become built-ins) is a [listeners.x] with its command and events."""
    builtin = ("memmon", "httpok", "crashmail", "crashmailbatch", "fatalmailbatch")
    theirs = {
        name: pool
        for name, pool in supervisor_listeners(path).items()
        if not any(os.path.basename(w).rsplit(".", 1)[-1] in builtin for w in pool["command"])
    }
    checked, _ = resolved(path, str(tmp_path / "out.toml"), corpus_env)
    mine = {n: p for n, p in checked["programs"].items() if "listener" in p}
    assert sorted(mine) == sorted(theirs)
    for name, pool in theirs.items():
        assert mine[name]["command"] == pool["command"], name
        assert mine[name]["listener"]["events"] == sorted(expand(pool["events"])), name
        assert len(mine[name]["processes"]) == pool["numprocs"], name
