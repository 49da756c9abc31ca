"""[listeners.NAME] at load: a program's keys plus events and buffer_size, and what a
listener may not have, each error naming file, table and key (docs/configuration.md)."""

from __future__ import annotations

import pytest

from supervisord_lite.config.check import program_json
from supervisord_lite.config.listeners import with_server_url
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError

pytestmark = pytest.mark.timeout(30)


def load(tmp_path, monkeypatch, text: str):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(text)
    try:
        return load_config("c.toml", euid=0), []
    except ConfigError as exc:
        return None, exc.errors


def test_a_listener_is_a_program_with_events(tmp_path, monkeypatch):
    config, errors = load(tmp_path, monkeypatch, (
        '[programs.web]\ncommand = "sleep 60"\npriority = 1\n'
        '[listeners.mon]\ncommand = "mon"\nevents = ["PROCESS_STATE", "TICK_60"]\n'
        "numprocs = 2\n"
    ))  # fmt: skip
    assert errors == []
    mon = config.programs["mon"]
    assert mon.listener.buffer_size == 1024
    assert "PROCESS_STATE_EXITED" in mon.listener.events and "TICK_60" in mon.listener.events
    assert "PROCESS_STATE" not in mon.listener.events  # abstract: only its subtypes
    assert mon.group == "mon" and mon.stdout_logfile == "none"
    assert mon.processes == ("mon:0", "mon:1")
    # Listeners start first (and so stop last), whatever the programs' priorities.
    assert sorted(config.programs.values(), key=lambda p: p.order_key())[0].name == "mon"


def test_every_listener_mistake_is_named_with_its_key(tmp_path, monkeypatch):
    _, errors = load(tmp_path, monkeypatch, (
        '[programs.web]\ncommand = "x"\n'
        '[groups.g]\nprograms = ["mon"]\n'
        '[listeners.web]\ncommand = "x"\nevents = ["TICK"]\n'
        '[listeners.mon]\ncommand = "x"\nevents = ["PROCESS_STAT", "TICK_5"]\n'
        'buffer_size = 0\nredirect_stderr = true\nstdout_logfile = "/tmp/x.log"\n'
        "stdout_events_enabled = true\n"
        '[listeners.none]\ncommand = "x"\nevents = []\n'
        '[listeners.missing]\ncommand = "x"\n'
    ))  # fmt: skip
    assert errors == [
        'c.toml: listeners.web: "web" is already defined in c.toml (listeners and programs '
        "are processes alike: each needs a name of its own)",
        "c.toml: listeners.mon.buffer_size: expected an integer >= 1, got 0",
        'c.toml: listeners.mon.events[0]: unknown event type "PROCESS_STAT" '
        '(did you mean "PROCESS_STATE"?)',
        "c.toml: listeners.mon.stdout_logfile: a listener's stdout is the event protocol, "
        'read by the daemon, not logged: use "none" or leave it out (its stderr is logged '
        "as usual)",
        "c.toml: listeners.mon.redirect_stderr: a listener's stdout is the event protocol: "
        "its stderr cannot be sent there",
        "c.toml: listeners.mon.stdout_events_enabled: a listener's stdout is the event "
        "protocol, not output to send as events",
        'c.toml: groups.g.programs: "mon" is a listener: its processes are a group of their '
        "own (its name)",
        'c.toml: listeners.none.events: give at least one event type (e.g. ["PROCESS_STATE"])',
        'c.toml: listeners.missing.events: required key missing (e.g. ["PROCESS_STATE"])',
    ]


def test_program_keys_of_a_listener_are_checked_under_its_table(tmp_path, monkeypatch):
    _, errors = load(tmp_path, monkeypatch, (
        '[listeners.mon]\ncommand = "x"\nevents = ["TICK_5"]\nstartsecs = "soon"\n'
    ))  # fmt: skip
    assert errors == ['c.toml: listeners.mon.startsecs: expected a number >= 0, got "soon"']


def test_listeners_are_told_the_xmlrpc_url(tmp_path, monkeypatch):
    config, _ = load(tmp_path, monkeypatch, (
        '[programs.web]\ncommand = "x"\n'
        '[listeners.a]\ncommand = "x"\nevents = ["TICK_5"]\n'
        '[listeners.b]\ncommand = "x"\nevents = ["TICK_5"]\n'
        'environment = { SUPERVISOR_SERVER_URL = "http://mine" }\n'
    ))  # fmt: skip
    told = with_server_url(config.programs, "unix:///run/sdl-rpc.sock")
    assert dict(told["a"].environment)["SUPERVISOR_SERVER_URL"] == "unix:///run/sdl-rpc.sock"
    assert dict(told["b"].environment)["SUPERVISOR_SERVER_URL"] == "http://mine"
    assert "SUPERVISOR_SERVER_URL" not in dict(told["web"].environment)


def test_check_json_shows_a_listener(tmp_path, monkeypatch):
    config, _ = load(tmp_path, monkeypatch, (
        '[listeners.mon]\ncommand = "x"\nevents = ["TICK"]\nbuffer_size = 5\n'
    ))  # fmt: skip
    shown = program_json(config.programs["mon"], config)
    assert shown["listener"] == {"events": ["TICK_3600", "TICK_5", "TICK_60"], "buffer_size": 5}
    assert shown["stdout_events_enabled"] is False


def test_a_listeners_stdin_is_the_daemons(tmp_path, monkeypatch):
    _, errors = load(tmp_path, monkeypatch, (
        '[listeners.mon]\ncommand = "x"\nevents = ["TICK_5"]\nstdin = true\n'
    ))  # fmt: skip
    assert (
        "c.toml: listeners.mon.stdin: a listener's stdin is the event protocol, "
        "written by the daemon" in errors
    )
