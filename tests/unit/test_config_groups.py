"""Groups, process_name, numprocs_start and [supervisord] environment in the config, and
the --check --json report of what a file means."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from supervisord_lite.config.check import check_report
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError, GroupConfig, groups_of

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def load(tmp_path, monkeypatch):
    """Write example.toml (and any other files) in a temp dir, the cwd; load it."""
    monkeypatch.chdir(tmp_path)

    def load(text: str, **files: str):
        for name, body in files.items():
            path = tmp_path / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(body))
        (tmp_path / "example.toml").write_text(textwrap.dedent(text))
        try:
            return load_config("example.toml", euid=0), []
        except ConfigError as exc:
            return None, exc.errors

    return load


def errors(load, text: str, **files: str) -> list[str]:
    conf, errs = load(text, **files)
    assert conf is None, "expected the config to be rejected"
    return errs


LARAVEL = """
[programs.laravel-worker]
command = "php artisan queue:work"
numprocs = 3
numprocs_start = 1
process_name = "{program_name}_{process_num:02d}"
stdout_logfile = "w_{process_num:02d}.log"
[programs.nginx]
command = "nginx"
priority = 20
[programs.php]
command = "php-fpm"
priority = 10
[programs.solo]
command = "x"
priority = 5
[groups.web]
programs = ["nginx", "php"]
priority = 1
"""


def test_full_names_groups_and_start_order(load):
    conf, errs = load(LARAVEL)
    assert errs == []
    lw = conf.programs["laravel-worker"]
    assert lw.processes == (
        "laravel-worker:laravel-worker_01",
        "laravel-worker:laravel-worker_02",
        "laravel-worker:laravel-worker_03",
    )
    assert lw.logfile_path("stdout", 2, conf.log_dir).endswith("/w_03.log")
    assert conf.programs["nginx"].processes == ("web:nginx",)
    assert conf.programs["solo"].processes == ("solo",)
    # Group priority first, then the program's own; a program alone is its own group.
    groups = groups_of(conf.programs.values())
    assert list(groups) == ["web", "solo", "laravel-worker"]
    assert groups["web"].programs == ("php", "nginx")
    assert groups["web"].priority == 1 and groups["solo"].priority == 5
    # the config keeps only the [groups.*] tables, as written
    assert conf.groups == {"web": GroupConfig("web", ("nginx", "php"), 1)}
    assert conf.find_process("web:php") == (conf.programs["php"], 0)
    assert conf.find_process("laravel-worker:laravel-worker_03") == (lw, 2)
    assert conf.find_process("php") is None


def test_default_names_stay_as_before(load):
    conf, _ = load('[programs.web]\ncommand = "x"\nnumprocs = 2\n[programs.db]\ncommand = "x"\n')
    assert conf.programs["web"].processes == ("web:0", "web:1")
    assert conf.programs["db"].processes == ("db",)


def test_supervisord_environment_is_under_each_programs_own(load):
    conf, _ = load(
        """
        [supervisord]
        environment = { A = "daemon", B = "daemon" }
        [programs.web]
        command = "x"
        environment = { B = "web" }
        """
    )
    assert dict(conf.programs["web"].environment) == {"A": "daemon", "B": "web"}


def test_a_group_change_is_a_change_of_its_programs(load):
    before, _ = load('[programs.a]\ncommand = "x"\n[programs.b]\ncommand = "x"\n')
    after, _ = load(
        '[programs.a]\ncommand = "x"\n[programs.b]\ncommand = "x"\n[groups.g]\nprograms = ["a"]\n'
    )
    assert before.programs["a"] != after.programs["a"]
    assert before.programs["b"] == after.programs["b"]
    again, _ = load(
        '[programs.a]\ncommand = "x"\n[programs.b]\ncommand = "x"\n'
        '[groups.g]\nprograms = ["a"]\npriority = 3\n'
    )
    assert again.programs["a"] != after.programs["a"]  # the group's priority changed


def test_groups_may_live_in_include_files(load):
    conf, errs = load(
        '[supervisord]\ninclude = ["conf.d/*.toml"]\n[programs.a]\ncommand = "x"\n',
        **{"conf.d__g.toml": '[groups.g]\nprograms = ["a", "b"]\n[programs.b]\ncommand = "x"\n'},
    )
    assert errs == []
    assert conf.programs["a"].processes == ("g:a",) and conf.programs["b"].processes == ("g:b",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[groups.g]\nprograms = ["a", "nope"]\n',
            ['example.toml: groups.g.programs: unknown program "nope"'],
        ),
        (
            '[groups.g]\nprograms = ["a"]\n[groups.h]\nprograms = ["a"]\n',
            ['example.toml: groups.h.programs: program "a" is already in group "g"'],
        ),
        (
            '[groups.b]\nprograms = ["a"]\n',
            [
                'example.toml: groups.b: a program outside this group is called "b" (and so'
                " is its own group); rename one of them"
            ],
        ),
        (
            '[groups.all]\nprograms = ["a"]\n',
            [
                'example.toml: groups.all: "all" is reserved: supervisorctl-lite uses it for'
                " every process"
            ],
        ),
        (
            '[groups."a b"]\nprograms = ["a"]\n',
            [
                'example.toml: groups."a b": invalid group name: use letters, digits, "_",'
                ' "." and "-"'
            ],
        ),
        ("[groups.g]\npriority = 1\n", ["example.toml: groups.g.programs: required key missing"]),
        (
            '[groups.g]\nprograms = ["a"]\npriorty = 1\n',
            ['example.toml: groups.g.priorty: unknown key (did you mean "priority"?)'],
        ),
    ],
)
def test_group_mistakes_are_named(load, text, expected):
    base = '[programs.a]\ncommand = "x"\n[programs.b]\ncommand = "x"\n'
    assert errors(load, base + text) == expected


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            'numprocs = 2\nprocess_name = "{program_name}"',
            'programs.w.process_name: with numprocs = 2 the name must contain "{process_num}"'
            " so each process gets its own name",
        ),
        (
            'process_name = "{prog}"',
            "programs.w.process_name: unknown field {prog}; the fields are {program_name},"
            ' {group_name}, {process_num}, {numprocs}, {host_node_name}, in "{prog}"',
        ),
        (
            'process_name = "a b"',
            'programs.w.process_name: gives the process name "a b": use letters, digits, "_",'
            ' "." and "-"',
        ),
        (
            'process_name = ""',
            "programs.w.process_name: expected a template, got an empty string",
        ),
        ("numprocs_start = -1", "programs.w.numprocs_start: expected an integer >= 0, got -1"),
        (
            'numprocs = 2\nstdout_logfile = "w.log"',
            'programs.w.stdout_logfile: with numprocs = 2 the path must contain "{process_num}"'
            " so each process gets its own log",
        ),
        (
            'stdout_logfile = "w{x}.log"',
            "programs.w.stdout_logfile: unknown field {x}",
        ),
    ],
)
def test_process_name_mistakes_are_named(load, keys, expected):
    errs = errors(load, f'[programs.w]\ncommand = "x"\n{keys}\n')
    assert len(errs) == 1 and errs[0].startswith("example.toml: " + expected), errs


def test_groups_must_be_a_table(load):
    errs = errors(load, 'groups = "x"\n[programs.a]\ncommand = "x"\n')
    assert errs == ['example.toml: groups: expected a table of groups, got "x"']


def test_two_programs_cannot_give_the_same_process_name(load):
    errs = errors(
        load,
        '[programs.a]\ncommand = "x"\nprocess_name = "p"\n'
        '[programs.b]\ncommand = "x"\nprocess_name = "p"\n'
        '[groups.g]\nprograms = ["a", "b"]\n',
    )
    assert errs == [
        'example.toml: programs.b.process_name: gives the process name "g:p", which program'
        ' "a" gives too'
    ]


def test_check_report_resolves_every_key(load, tmp_path):
    load(LARAVEL)
    report = check_report("example.toml")
    assert report["ok"] and report["errors"] == []
    lw = report["programs"]["laravel-worker"]
    assert lw["command"] == ["php", "artisan", "queue:work"]
    assert lw["stopsignal"] == "TERM" and lw["stdout_logfile_maxbytes"] == 50 * 1024**2
    assert lw["group"] == "laravel-worker" and lw["numprocs_start"] == 1
    assert lw["processes"][0] == "laravel-worker:laravel-worker_01"
    first = lw["logfiles"]["laravel-worker:laravel-worker_01"]
    assert first["stdout"] == str(tmp_path / "w_01.log")
    assert first["stderr"] == str(tmp_path / "logs" / "laravel-worker:laravel-worker_01.stderr.log")
    assert report["groups"]["web"] == {"programs": ["php", "nginx"], "priority": 1}
    assert report["groups"]["solo"] == {"programs": ["solo"], "priority": 5}
    json.dumps(report)  # all of it is JSON


def test_check_json_cli_reports_host_errors_beside_the_programs(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[programs.a]\ncommand = "./missing.sh"\n'
        '[programs.b]\ncommand = "x"\nuser = "no-such-user-here"\ndirectory = "nowhere"\n'
    )
    run = [sys.executable, "-m", "supervisord_lite", "-c", str(config), "--check", "--json"]
    res = subprocess.run(run, capture_output=True, text=True, timeout=20)
    assert res.returncode == 2, res.stderr
    report = json.loads(res.stdout)
    assert report["ok"] is False and set(report["programs"]) == {"a", "b"}
    text = "\n".join(report["errors"])
    assert 'programs.b.user: unknown user "no-such-user-here"' in text
    # what this host lacks: errors of --check (launch only warns: config/host.py)
    assert f"programs.a.command: no such file {tmp_path}/missing.sh" in text
    assert f"programs.b.directory: no such directory {tmp_path}/nowhere" in text
    # a file that does not parse: no programs, the TOML error, exit 2
    config.write_text("[programs.a\n")
    res = subprocess.run(run, capture_output=True, text=True, timeout=20)
    report = json.loads(res.stdout)
    assert (
        res.returncode == 2 and report["programs"] == {} and "invalid TOML" in report["errors"][0]
    )
    # --json alone is a usage error
    res = subprocess.run(run[:-2] + ["--json"], capture_output=True, text=True, timeout=20)
    assert res.returncode == 2 and "--json goes with --check" in res.stderr
    assert os.path.exists(config)
