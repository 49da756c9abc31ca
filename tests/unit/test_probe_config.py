"""[programs.NAME.ready] / [programs.NAME.health] / watchdog_sec: values and golden errors."""

from __future__ import annotations

import textwrap

import pytest

from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError
from supervisord_lite.config.probes import Address, ProbeConfig

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def load(extra: str):
        text = '[programs.web]\ncommand = "sleep 1"\n' + textwrap.dedent(extra)
        (tmp_path / "example.toml").write_text(text)
        try:
            return load_config("example.toml", euid=0).programs["web"], []
        except ConfigError as exc:
            return None, exc.errors

    return load


def errors(load, extra: str) -> list[str]:
    prog, errs = load(extra)
    assert prog is None, "expected the config to be rejected"
    return errs


def test_no_tables_means_no_probes(load):
    prog, errs = load("")
    assert errs == []
    assert (prog.ready, prog.health, prog.watchdog_sec) == (None, None, None)


@pytest.mark.parametrize(
    "line, want",
    [
        ("notify = true", ProbeConfig("notify", True, 0.5, 60.0)),
        (
            'tcp = "127.0.0.1:6379"',
            ProbeConfig("tcp", Address("127.0.0.1", 6379, "", "127.0.0.1:6379"), 0.5, 60.0),
        ),
        (
            'tcp = "localhost:80"',
            ProbeConfig("tcp", Address("127.0.0.1", 80, "", "localhost:80"), 0.5, 60.0),
        ),
        ('tcp = "[::1]:80"', ProbeConfig("tcp", Address("::1", 80, "", "[::1]:80"), 0.5, 60.0)),
        (
            'http = "http://127.0.0.1/health?x=1"',
            ProbeConfig(
                "http",
                Address("127.0.0.1", 80, "/health?x=1", "http://127.0.0.1/health?x=1"),
                0.5,
                60.0,
            ),
        ),
        (
            'http = "http://[::1]:8080"',
            ProbeConfig("http", Address("::1", 8080, "/", "http://[::1]:8080"), 0.5, 60.0),
        ),
        ('exec = ["true", "x"]', ProbeConfig("exec", ("true", "x"), 0.5, 60.0)),
        (
            'log = "Ready to accept"\ntimeout = 5\ninterval = 0.1',
            ProbeConfig("log", "Ready to accept", 0.1, 5.0),
        ),
    ],
)
def test_ready_values(load, line, want):
    prog, errs = load(f"[programs.web.ready]\n{line}\n")
    assert errs == []
    assert prog.ready == want


def test_health_defaults_and_watchdog(load):
    prog, errs = load(
        """
        watchdog_sec = 5
        [programs.web.ready]
        notify = true
        [programs.web.health]
        tcp = "127.0.0.1:1"
        """
    )
    assert errs == []
    assert prog.health == ProbeConfig(
        "tcp", Address("127.0.0.1", 1, "", "127.0.0.1:1"), 10.0, 1.0, 3
    )
    assert prog.watchdog_sec == 5.0


@pytest.mark.parametrize(
    "extra, want",
    [
        (
            '[programs.web.ready]\ntcp = "127.0.0.1:1"\nlog = "x"\n',
            "example.toml: programs.web.ready: give exactly one of notify, tcp, http, exec, log",
        ),
        (
            "[programs.web.ready]\ntimeout = 3\n",
            "example.toml: programs.web.ready: give exactly one of notify, tcp, http, exec, log",
        ),
        (
            '[programs.web.health]\nlog = "x"\n',
            "example.toml: programs.web.health.log: log only proves readiness; "
            "health takes tcp, http, exec",
        ),
        (
            '[programs.web.health]\ntcp = "127.0.0.1:1"\ninterval = 1\nintervall = 2\n',
            'example.toml: programs.web.health.intervall: unknown key (did you mean "interval"?); '
            "known: tcp, http, exec, interval, timeout, failures",
        ),
        (
            '[programs.web.ready]\nlog = "(unclosed"\n',
            'example.toml: programs.web.ready.log: bad regular expression "(unclosed": '
            "missing ), unterminated subpattern at position 0",
        ),
        (
            '[programs.web.ready]\nhttp = "https://127.0.0.1/"\n',
            "example.toml: programs.web.ready.http: "
            'https is not supported (probe over plain http), got "https://127.0.0.1/"',
        ),
        (
            '[programs.web.ready]\nhttp = "ftp://x/"\n',
            "example.toml: programs.web.ready.http: "
            'expected a URL like "http://127.0.0.1:8000/health", got "ftp://x/"',
        ),
        (
            '[programs.web.ready]\ntcp = "6379"\n',
            "example.toml: programs.web.ready.tcp: "
            'expected "HOST:PORT" (IPv6 as "[::1]:80"), got "6379"',
        ),
        (
            '[programs.web.ready]\ntcp = "127.0.0.1:70000"\n',
            "example.toml: programs.web.ready.tcp: "
            'port must be 1..65535, got 70000 in "127.0.0.1:70000"',
        ),
        (
            '[programs.web.ready]\ntcp = "db.example:5432"\n',
            'example.toml: programs.web.ready.tcp: "db.example" is not an IP address: give one '
            "(or localhost); looking a name up would block the daemon",
        ),
        (
            '[programs.web.ready]\ntcp = "::1:80"\n',
            "example.toml: programs.web.ready.tcp: "
            'expected "HOST:PORT" (IPv6 as "[::1]:80"), got "::1:80"',
        ),
        (
            "[programs.web.ready]\nnotify = false\n",
            "example.toml: programs.web.ready.notify: expected true (notify = false is the "
            "same as no notify), got false",
        ),
        (
            "[programs.web.ready]\nnotify = true\ninterval = 0\n",
            "example.toml: programs.web.ready.interval: expected a number > 0, got 0",
        ),
        (
            "[programs.web.health]\nexec = []\nfailures = 0\n",
            "example.toml: programs.web.health.exec: must not be empty",
        ),
        (
            "watchdog_sec = 3\n",
            "example.toml: programs.web.watchdog_sec: needs [programs.web.ready] notify = true "
            "(the program pings with WATCHDOG=1 over sd_notify)",
        ),
        ("ready = 3\n", "example.toml: programs.web.ready: expected a table, got 3"),
    ],
)
def test_golden_errors(load, extra, want):
    errs = errors(load, extra)
    assert want in errs, errs


def test_every_problem_of_a_table_is_reported(load):
    errs = errors(load, "[programs.web.health]\nexec = []\nfailures = 0\n")
    assert errs == [
        "example.toml: programs.web.health.exec: must not be empty",
        "example.toml: programs.web.health.failures: expected an integer >= 1, got 0",
    ]
