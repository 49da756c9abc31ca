"""Config loader: golden error messages, conversions, includes, and a fuzz property."""

from __future__ import annotations

import inspect
import json
import os
import pwd
import shutil
import signal
import tempfile
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisord_lite.config import keys as config_keys
from supervisord_lite.config import load as config_load
from supervisord_lite.config.load import find_config_path, load_config
from supervisord_lite.config.model import ConfigError, DaemonConfig, ProgramConfig
from supervisord_lite.config.values import byte_size, octal, signal_name, signal_number

pytestmark = pytest.mark.timeout(30)

ME = pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    """Write example.toml in a temp dir (the cwd) and load it by its relative name.

    Returns (DaemonConfig, []) or (None, errors) so golden messages read
    "example.toml: ...", exactly as a user running `--check -c example.toml` sees them.
    """
    monkeypatch.chdir(tmp_path)

    def load(text: str, euid: int = 0, name: str = "example.toml"):
        (tmp_path / name).write_text(textwrap.dedent(text))
        try:
            return load_config(name, euid=euid), []
        except ConfigError as exc:
            assert exc.errors, "ConfigError must carry at least one line"
            assert str(exc) == "\n".join(exc.errors)
            return None, exc.errors

    return load


def errors_for(cfg, text: str, **kw) -> list[str]:
    conf, errors = cfg(text, **kw)
    assert conf is None, "expected the config to be rejected"
    return errors


def program_errors(cfg, key: str, value: str) -> list[str]:
    return errors_for(cfg, f'[programs.web]\ncommand = "x"\n{key} = {value}\n')


# --- golden messages: one bad key, exactly one line ------------------------------------------

NSIG = signal.NSIG
OCTAL_MSG = 'expected an octal mode 0o000..0o777 (like 0o022 or "022"), got '
SIZE_MSG = 'expected a size like "50MB" (KB, MB, GB, or a plain number of bytes), got '

PROGRAM_CASES = [
    ("command", "5", "", "expected a string or a list of strings, got 5"),
    ("command", '""', "", "must not be empty"),
    ("command", '"   "', "", "must not be empty"),
    ("command", "[]", "", "must not be empty"),
    ("command", '["a", 1]', "[1]", "expected a string, got 1"),
    ("command", '["", "a"]', "", 'the program to run (the first element) must not be ""'),
    ("command", '"a \'b"', "", 'cannot split "a \'b": No closing quotation'),
    ("command", '"a\\u0000b"', "", 'an argument cannot contain a NUL character, got "a\\u0000b"'),
    ("numprocs", "0", "", "expected an integer >= 1, got 0"),
    ("numprocs", "1.5", "", "expected an integer >= 1, got 1.5"),
    ("numprocs", "true", "", "expected an integer >= 1, got true"),
    ("numprocs", '"2"', "", 'expected an integer >= 1, got "2"'),
    ("directory", "5", "", "expected a string, got 5"),
    ("directory", '""', "", "expected a path, got an empty string"),
    ("environment", '"A=b"', "", 'expected a table of strings like { PORT = "8000" }, got "A=b"'),
    ("environment", "{ PORT = 8000 }", ".PORT", "expected a string, got 8000"),
    ("environment", "{ X = true }", ".X", "expected a string, got true"),
    ("environment", '{ "" = "v" }', '.""', 'a variable name must be non-empty, without "=" or NUL'),
    (
        "environment",
        '{ "A=B" = "v" }',
        '."A=B"',
        'a variable name must be non-empty, without "=" or NUL',
    ),
    ("user", "0", "", "expected a string, got 0"),
    ("umask", '"abc"', "", OCTAL_MSG + '"abc"'),
    ("umask", "0o1000", "", OCTAL_MSG + "0o1000"),
    ("umask", "-1", "", OCTAL_MSG + "-1"),
    ("umask", "true", "", OCTAL_MSG + "true"),
    ("umask", '"089"', "", OCTAL_MSG + '"089"'),
    ("priority", '"x"', "", 'expected an integer, got "x"'),
    ("priority", "1.0", "", "expected an integer, got 1.0"),
    ("priority", "false", "", "expected an integer, got false"),
    (
        "depends_on",
        '"db"',
        "",
        "expected a list of program names or a table of conditions like "
        '{ migrate = "completed_successfully" }, got "db"',
    ),
    (
        "depends_on",
        '{ db = "up" }',
        ".db",
        'expected "started" | "ready" | "healthy" | "completed" | "completed_successfully", '
        'got "up"',
    ),
    ("oneshot", '"yes"', "", 'expected true or false, got "yes"'),
    (
        "exec_start_pre",
        '"echo hi"',
        "",
        'expected a list of commands like [["/usr/bin/migrate", "--up"]], got "echo hi"',
    ),
    ("exec_stop", "[[]]", "[0]", "must not be empty"),
    ("hook_timeout", "0", "", "expected a number > 0, got 0"),
    ("depends_on", "[1]", "[0]", "expected a program name, got 1"),
    ("autostart", '"yes"', "", 'expected true or false, got "yes"'),
    ("autostart", "1", "", "expected true or false, got 1"),
    ("autorestart", '"always"', "", 'expected true, false or "unexpected", got "always"'),
    ("autorestart", "1", "", 'expected true, false or "unexpected", got 1'),
    ("exitcodes", "0", "", "expected a list of exit codes 0..255, got 0"),
    ("exitcodes", "[256]", "[0]", "expected an integer 0..255, got 256"),
    ("exitcodes", "[0, -1]", "[1]", "expected an integer 0..255, got -1"),
    ("exitcodes", "[true]", "[0]", "expected an integer 0..255, got true"),
    ("startsecs", '"x"', "", 'expected a number >= 0, got "x"'),
    ("startsecs", "-1", "", "expected a number >= 0, got -1"),
    ("startsecs", "true", "", "expected a number >= 0, got true"),
    ("startsecs", "inf", "", "expected a number >= 0, got inf"),
    ("startsecs", "nan", "", "expected a number >= 0, got nan"),
    ("startretries", "-1", "", "expected an integer >= 0, got -1"),
    ("startretries", "2.5", "", "expected an integer >= 0, got 2.5"),
    ("backoff_max", "-0.5", "", "expected a number >= 0, got -0.5"),
    ("backoff_reset", "[]", "", "expected a number >= 0, got []"),
    ("stopsignal", '"FOO"', "", 'unknown signal "FOO"'),
    ("stopsignal", "true", "", "expected a signal name or number, got true"),
    ("stopsignal", "1.5", "", "expected a signal name or number, got 1.5"),
    ("stopsignal", "0", "", f"no such signal number 0 (valid: 1..{NSIG - 1})"),
    ("stopsignal", str(NSIG), "", f"no such signal number {NSIG} (valid: 1..{NSIG - 1})"),
    ("stopwaitsecs", '"10s"', "", 'expected a number >= 0, got "10s"'),
    ("stopasgroup", '"true"', "", 'expected true or false, got "true"'),
    ("redirect_stderr", "0", "", "expected true or false, got 0"),
    ("stdout_logfile", "5", "", "expected a string, got 5"),
    ("stderr_logfile", '""', "", "expected a path, got an empty string"),
    ("stdout_logfile_maxbytes", '"5TB"', "", SIZE_MSG + '"5TB"'),
    ("stdout_logfile_maxbytes", "-1", "", "expected a size >= 0, got -1"),
    ("stderr_logfile_maxbytes", "1.5", "", SIZE_MSG + "1.5"),
    ("stderr_logfile_maxbytes", "true", "", SIZE_MSG + "true"),
    ("stdout_logfile_backups", "-1", "", "expected an integer >= 0, got -1"),
    ("stderr_logfile_backups", '"3"', "", 'expected an integer >= 0, got "3"'),
]


@pytest.mark.parametrize("key, value, sub, message", PROGRAM_CASES)
def test_program_key_errors(cfg, key, value, sub, message):
    if key == "command":
        errors = errors_for(cfg, f"[programs.web]\ncommand = {value}\n")
    else:
        errors = program_errors(cfg, key, value)
    assert errors == [f"example.toml: programs.web.{key}{sub}: {message}"]


DAEMON_CASES = [
    ("socket", "5", "", "expected a string, got 5"),
    ("pidfile", '""', "", "expected a path, got an empty string"),
    ("logfile", "false", "", "expected a string, got false"),
    ("loglevel", '"verbose"', "", 'expected "debug" | "info" | "warning" | "error", got "verbose"'),
    ("log_dir", "[]", "", "expected a string, got []"),
    ("umask", "0o1000", "", OCTAL_MSG + "0o1000"),
    ("include", '"conf.d/*.toml"', "", 'expected a list of glob patterns, got "conf.d/*.toml"'),
    ("include", '["a", 1]', "[1]", "expected a string, got 1"),
    ("socket_mode", '"999"', "", OCTAL_MSG + '"999"'),
    ("allowed_uids", "1000", "", "expected a list of uids >= 0, got 1000"),
    ("allowed_uids", "[true]", "[0]", "expected an integer >= 0, got true"),
    ("max_clients", "0", "", "expected an integer >= 1, got 0"),
    ("max_clients", "true", "", "expected an integer >= 1, got true"),
    ("sockett", '"x"', "", 'unknown key (did you mean "socket"?)'),
    ("frobnicate", "1", "", "unknown key"),
]


@pytest.mark.parametrize("key, value, sub, message", DAEMON_CASES)
def test_daemon_key_errors(cfg, key, value, sub, message):
    errors = errors_for(cfg, f"[supervisord]\n{key} = {value}\n")
    assert errors == [f"example.toml: supervisord.{key}{sub}: {message}"]


def test_every_bad_list_item_is_reported(cfg):
    errors = errors_for(cfg, "[supervisord]\nallowed_uids = [-1, 5, true]\n")
    assert errors == [
        "example.toml: supervisord.allowed_uids[0]: expected an integer >= 0, got -1",
        "example.toml: supervisord.allowed_uids[2]: expected an integer >= 0, got true",
    ]


def test_unknown_key_suggests_the_closest(cfg):
    errors = program_errors(cfg, "startsec", "1")
    assert errors == [
        'example.toml: programs.web.startsec: unknown key (did you mean "startsecs"?)'
    ]


def test_unknown_top_level_keys(cfg):
    errors = errors_for(cfg, '[program.web]\ncommand = "x"\n[daemon]\nx = 1\n')
    assert errors == [
        'example.toml: program: unknown key (did you mean "programs"?)',
        "example.toml: daemon: unknown key",
    ]


def test_tables_of_the_wrong_type(cfg):
    assert errors_for(cfg, "supervisord = 5\n") == [
        "example.toml: supervisord: expected a table, got 5"
    ]
    assert errors_for(cfg, 'programs = "x"\n') == [
        'example.toml: programs: expected a table of programs, got "x"'
    ]
    assert errors_for(cfg, "[programs]\nweb = [1, 2]\n") == [
        "example.toml: programs.web: expected a table, got [1, 2]"
    ]


def test_missing_command(cfg):
    errors = errors_for(cfg, "[programs.web]\nnumprocs = 2\n")
    assert errors == ["example.toml: programs.web.command: required key missing"]


@pytest.mark.parametrize(
    "name, message",
    [
        ('"a b"', 'programs."a b": invalid program name: use letters, digits, "_", "." and "-"'),
        (
            '"web:0"',
            'programs."web:0": invalid program name: use letters, digits, "_", "." and "-"',
        ),
        ('""', 'programs."": invalid program name: use letters, digits, "_", "." and "-"'),
        ("all", 'programs.all: "all" is reserved: supervisorctl-lite uses it for every process'),
    ],
)
def test_bad_program_names(cfg, name, message):
    assert errors_for(cfg, f'[programs.{name}]\ncommand = "x"\n') == [f"example.toml: {message}"]


def test_dotted_name_is_allowed_and_quoted_in_messages(cfg):
    conf, _ = cfg('[programs."web.v2"]\ncommand = "x"\n')
    assert list(conf.programs) == ["web.v2"]
    errors = errors_for(cfg, '[programs."web.v2"]\ncommand = "x"\nstartsecs = -1\n')
    assert errors == ['example.toml: programs."web.v2".startsecs: expected a number >= 0, got -1']


# --- users ------------------------------------------------------------------------------------


def test_unknown_user(cfg):
    errors = program_errors(cfg, "user", '"no-such-user-sdl"')
    assert errors == ['example.toml: programs.web.user: unknown user "no-such-user-sdl"']


def test_user_with_nul_is_unknown_not_a_crash(cfg):
    errors = program_errors(cfg, "user", '"ro\\u0000ot"')
    assert errors == ['example.toml: programs.web.user: unknown user "ro\\u0000ot"']


def test_user_needs_root_to_switch(cfg):
    errors = errors_for(cfg, '[programs.web]\ncommand = "x"\nuser = "root"\n', euid=1000)
    assert errors == [
        "example.toml: programs.web.user: only a daemon running as root can switch users "
        '(this one runs as uid 1000; "root" is uid 0)'
    ]


def test_user_allowed_as_root_or_as_oneself(cfg):
    conf, errors = cfg('[programs.web]\ncommand = "x"\nuser = "root"\n', euid=0)
    assert errors == [] and conf.programs["web"].user == "root"
    text = f'[programs.web]\ncommand = "x"\nuser = "{ME}"\n'
    conf, errors = cfg(text, euid=os.geteuid())
    assert errors == [] and conf.programs["web"].user == ME


# --- depends_on ------------------------------------------------------------------------------


def test_depends_on_unknown_and_cycles(cfg):
    errors = errors_for(
        cfg,
        """
        [programs.a]
        command = "x"
        depends_on = ["b", "ghost"]
        [programs.b]
        command = "x"
        depends_on = ["a"]
        [programs.c]
        command = "x"
        depends_on = ["c"]
        [programs.d]
        command = "x"
        depends_on = ["e"]
        [programs.e]
        command = "x"
        depends_on = ["f"]
        [programs.f]
        command = "x"
        depends_on = ["d", "a"]
        """,
    )
    assert errors == [
        'example.toml: programs.a.depends_on: unknown program "ghost"',
        "example.toml: programs.a.depends_on: dependency cycle: a -> b -> a",
        "example.toml: programs.c.depends_on: dependency cycle: c -> c",
        "example.toml: programs.d.depends_on: dependency cycle: d -> e -> f -> d",
    ]


def test_depends_on_ok_keeps_order_and_drops_repeats(cfg):
    text = """
    [programs.db]
    command = "x"
    [programs.cache]
    command = "x"
    [programs.web]
    command = "x"
    depends_on = ["db", "cache", "db"]
    """
    conf, errors = cfg(text)
    assert errors == []
    assert conf.programs["web"].depends_on == ("db", "cache")


def test_cycle_reported_even_when_the_program_has_other_errors(cfg):
    errors = errors_for(
        cfg,
        """
        [programs.a]
        command = ""
        depends_on = ["b"]
        [programs.b]
        command = "x"
        depends_on = ["a"]
        """,
    )
    assert errors == [
        "example.toml: programs.a.command: must not be empty",
        "example.toml: programs.a.depends_on: dependency cycle: a -> b -> a",
    ]


# --- includes ---------------------------------------------------------------------------------


def test_include_glob_sorted_and_in_order(cfg, tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.toml").write_text('[programs.bee]\ncommand = "x"\n')
    (tmp_path / "conf.d" / "a.toml").write_text('[programs.ant]\ncommand = "x"\n')
    (tmp_path / "conf.d" / "skip.txt").write_text("not toml")
    conf, errors = cfg(
        """
        [supervisord]
        include = ["conf.d/*.toml", "nothing-here/*.toml"]
        [programs.main]
        command = "x"
        """
    )
    assert errors == []
    assert list(conf.programs) == ["main", "ant", "bee"]
    assert conf.programs["main"].source == "example.toml"
    assert conf.programs["ant"].source == os.path.join("conf.d", "a.toml")
    assert conf.include == (str(tmp_path / "conf.d/*.toml"), str(tmp_path / "nothing-here/*.toml"))


def test_include_relative_to_config_dir_not_cwd(tmp_path, monkeypatch):
    (tmp_path / "etc" / "conf.d").mkdir(parents=True)
    (tmp_path / "etc" / "conf.d" / "a.toml").write_text('[programs.ant]\ncommand = "x"\n')
    main = tmp_path / "etc" / "main.toml"
    main.write_text('[supervisord]\ninclude = ["conf.d/*.toml"]\n')
    monkeypatch.chdir(tmp_path)
    conf = load_config(str(main), euid=0)
    assert list(conf.programs) == ["ant"]
    assert conf.programs["ant"].source == str(tmp_path / "etc" / "conf.d" / "a.toml")


def test_duplicate_program_across_includes(cfg, tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.toml").write_text('[programs.web]\ncommand = "y"\n')
    errors = errors_for(
        cfg, '[supervisord]\ninclude = ["conf.d/*.toml"]\n[programs.web]\ncommand = "x"\n'
    )
    assert errors == [
        'conf.d/a.toml: programs.web: program "web" is already defined in example.toml'
    ]


def test_include_file_may_hold_only_programs(cfg, tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.toml").write_text(
        '[supervisord]\nloglevel = "debug"\n[programz.x]\n'
        '[programs.ant]\ncommand = "x"\nstartsecs = "x"\n'
    )
    errors = errors_for(cfg, '[supervisord]\ninclude = ["conf.d/*.toml"]\n')
    assert errors == [
        "conf.d/a.toml: supervisord: not allowed in an include file"
        " (only [programs.*], [groups.*], [sockets.*] and [listeners.*] are)",
        'conf.d/a.toml: programz: unknown key (did you mean "programs"?)',
        'conf.d/a.toml: programs.ant.startsecs: expected a number >= 0, got "x"',
    ]


def test_include_syntax_error_names_the_include(cfg, tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.toml").write_text("[programs.ant\n")
    errors = errors_for(cfg, '[supervisord]\ninclude = ["conf.d/*.toml"]\n')
    assert len(errors) == 1
    assert errors[0].startswith("conf.d/a.toml: invalid TOML: ")
    assert "line 1" in errors[0]


def test_include_matching_main_file_and_directories(cfg, tmp_path):
    (tmp_path / "dir.toml").mkdir()
    errors = errors_for(cfg, '[supervisord]\ninclude = ["*.toml"]\n[programs.a]\ncommand = "x"\n')
    # The main file matched its own glob: skipped, not a duplicate; a directory is reported.
    assert errors == ["dir.toml: cannot read: not a regular file"]


# --- paths ------------------------------------------------------------------------------------


def test_defaults_and_relative_paths(tmp_path, monkeypatch):
    sub = tmp_path / "etc"
    sub.mkdir()
    (sub / "sdl.toml").write_text(
        textwrap.dedent(
            """
            [supervisord]
            socket = "run/../run/sdl.sock"
            logfile = "NONE"
            [programs.web]
            command = "python3 -m http.server 8000"
            directory = "."
            stdout_logfile = "logs/web-{process_num}.log"
            stderr_logfile = "/var/log/web.err"
            """
        )
    )
    monkeypatch.chdir(tmp_path)  # relative paths must follow the file, not the cwd
    conf = load_config("etc/sdl.toml", euid=0)
    assert conf.path == str(sub / "sdl.toml")
    assert conf.socket == str(sub / "run" / "sdl.sock")
    assert conf.pidfile == str(sub / "supervisord_lite.pid")
    assert conf.logfile is None
    assert conf.log_dir == str(sub / "logs")
    assert (conf.loglevel, conf.umask, conf.socket_mode) == ("info", 0o022, 0o600)
    assert (conf.allowed_uids, conf.include, conf.max_clients) == ((), (), None)  # None: auto
    web = conf.programs["web"]
    assert web.command == ("python3", "-m", "http.server", "8000")
    assert web.directory == str(sub)
    assert web.stdout_logfile == str(sub / "logs" / "web-{process_num}.log")
    assert web.stderr_logfile == "/var/log/web.err"
    assert web.source == "etc/sdl.toml"
    defaults = ProgramConfig(name="web", command=web.command)
    changed = {"directory", "stdout_logfile", "stderr_logfile", "source"}
    for name in ProgramConfig.__slots__:
        if name not in changed:
            assert getattr(web, name) == getattr(defaults, name), name


def test_empty_file_is_all_defaults(cfg, tmp_path):
    conf, errors = cfg("")
    assert errors == [] and conf.programs == {}
    assert conf.socket == str(tmp_path / "supervisord_lite.sock")
    assert conf.logfile == str(tmp_path / "supervisord_lite.log")


def test_socket_path_limit(cfg, tmp_path):
    room = 107 - len(str(tmp_path)) - 1
    conf, errors = cfg(f'[supervisord]\nsocket = "{"s" * room}"\n')
    assert errors == [] and len(conf.socket) == 107
    errors = errors_for(cfg, f'[supervisord]\nsocket = "{"s" * (room + 1)}"\n')
    assert len(errors) == 1
    assert errors[0].startswith("example.toml: supervisord.socket: ")
    assert errors[0].endswith(
        "is 108 bytes once absolute; a Unix socket path may be at most 107 bytes (AF_UNIX limit)"
    )


def test_numprocs_path_needs_process_num(cfg):
    text = '[programs.web]\ncommand = "x"\nnumprocs = 2\nstdout_logfile = "web.log"\n'
    assert errors_for(cfg, text) == [
        "example.toml: programs.web.stdout_logfile: with numprocs = 2 the path must contain "
        '"{process_num}" so each process gets its own log'
    ]
    text = '[programs.web]\ncommand = "x"\nnumprocs = 2\nstderr_logfile = "web-{process_num}.log"\n'
    conf, errors = cfg(text)
    assert errors == [] and conf.programs["web"].stdout_logfile == "auto"


def test_full_spec_example(cfg, tmp_path):
    conf, errors = cfg(
        f"""
        [supervisord]
        socket = "run/sdl.sock"
        pidfile = "run/sdl.pid"
        logfile = "logs/supervisord_lite.log"
        loglevel = "DEBUG"
        log_dir = "logs"
        umask = 0o027
        include = ["conf.d/*.toml"]
        socket_mode = "0666"
        allowed_uids = [1000, 0]
        max_clients = 5

        [programs.db]
        command = ["postgres", "-D", "data dir"]

        [programs.web]
        command = "python3 -m 'http.server' 8000"
        numprocs = 3
        directory = "srv"
        environment = {{ PORT = "8000", A = "1" }}
        user = "{ME}"
        umask = "0o002"
        priority = -5
        depends_on = ["db"]
        autostart = false
        autorestart = true
        exitcodes = [0, 2]
        startsecs = 0.5
        startretries = 0
        backoff_max = 0
        backoff_reset = 2.5
        stopsignal = "sigint"
        stopwaitsecs = 3
        stopasgroup = false
        redirect_stderr = true
        stdout_logfile = "logs/web-{{process_num}}.log"
        stdout_logfile_maxbytes = "10kb"
        stdout_logfile_backups = 0
        stderr_logfile = "none"
        stderr_logfile_maxbytes = 0
        stderr_logfile_backups = 1
        """,
        euid=os.geteuid(),
    )
    assert errors == []
    assert (conf.loglevel, conf.umask, conf.socket_mode) == ("debug", 0o027, 0o666)
    assert conf.allowed_uids == (1000, 0) and conf.max_clients == 5
    assert conf.programs["db"].command == ("postgres", "-D", "data dir")
    web = conf.programs["web"]
    assert web == ProgramConfig(
        name="web",
        command=("python3", "-m", "http.server", "8000"),
        numprocs=3,
        directory=str(tmp_path / "srv"),
        environment=(("PORT", "8000"), ("A", "1")),
        user=ME,
        umask=0o002,
        priority=-5,
        depends_on=("db",),
        autostart=False,
        autorestart=True,
        exitcodes=(0, 2),
        startsecs=0.5,
        startretries=0,
        backoff_max=0.0,
        backoff_reset=2.5,
        stopsignal=int(signal.SIGINT),
        stopwaitsecs=3.0,
        stopasgroup=False,
        redirect_stderr=True,
        stdout_logfile=str(tmp_path / "logs" / "web-{process_num}.log"),
        stdout_logfile_maxbytes=10 * 1024,
        stdout_logfile_backups=0,
        stderr_logfile="none",
        stderr_logfile_maxbytes=0,
        stderr_logfile_backups=1,
        source="example.toml",
    )
    assert isinstance(web.startsecs, float) and isinstance(web.stopwaitsecs, float)


def test_table_defaults_match_class_defaults():
    params = inspect.signature(ProgramConfig).parameters
    for key, (_, default) in config_keys.PROGRAM_KEYS.items():
        if key != "command":
            assert params[key].default == default, key
    # not keys (conditions: depends_on's table form, split off by the loader)
    derived = {"name", "source", "group", "group_priority", "processes", "templated",
               "conditions", "listener"}  # fmt: skip
    assert set(config_keys.PROGRAM_KEYS) == set(params) - derived
    assert list(params) == list(ProgramConfig.__slots__)


def test_config_classes_are_frozen_values():
    one = ProgramConfig(name="web", command=("x",))
    assert one == ProgramConfig(name="web", command=("x",)) and hash(one) == hash(
        ProgramConfig(name="web", command=("x",))
    )
    assert one != one.replace(priority=1) and one.replace(priority=1).priority == 1
    assert repr(one).startswith("ProgramConfig(name='web', command=('x',), numprocs=1,")
    with pytest.raises(AttributeError):
        one.priority = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        one.replace(nope=1)
    conf = DaemonConfig(path="/c.toml", socket="/s", pidfile="/p", logfile=None)
    other = DaemonConfig("/c.toml", "/s", "/p", None)
    assert conf.programs == {} and conf.programs is not other.programs and conf == other
    with pytest.raises(TypeError):
        hash(conf)  # a dict field: unhashable, as the frozen dataclass was


# --- all errors at once; file-level errors ---------------------------------------------------


def test_all_errors_at_once(cfg, tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "x.toml").write_text('[programs.inc]\ncommand = "x"\nautostart = 1\n')
    errors = errors_for(
        cfg,
        """
        [supervisord]
        loglevel = "loud"
        include = ["conf.d/*.toml"]
        [programs.web]
        command = "x"
        startsecs = "x"
        stopsignal = "NOPE"
        numprocs = 0
        [programs.db]
        user = "no-such-user-sdl"
        """,
        euid=0,
    )
    assert errors == [
        'example.toml: supervisord.loglevel: expected "debug" | "info" | "warning" | "error", '
        'got "loud"',
        'example.toml: programs.web.startsecs: expected a number >= 0, got "x"',
        'example.toml: programs.web.stopsignal: unknown signal "NOPE"',
        "example.toml: programs.web.numprocs: expected an integer >= 1, got 0",
        "example.toml: programs.db.command: required key missing",
        'example.toml: programs.db.user: unknown user "no-such-user-sdl"',
        "conf.d/x.toml: programs.inc.autostart: expected true or false, got 1",
    ]


def test_toml_syntax_error_keeps_line_and_column(cfg):
    errors = errors_for(cfg, '[programs.web]\ncommand = "x"\nstartsecs 1\n')
    assert len(errors) == 1
    assert errors[0].startswith("example.toml: invalid TOML: ")
    assert "(at line 3, column 11)" in errors[0]


def test_not_utf8(cfg, tmp_path):
    (tmp_path / "bad.toml").write_bytes(b'a = "\xff"\n')
    with pytest.raises(ConfigError) as exc:
        load_config("bad.toml", euid=0)
    assert exc.value.errors[0].startswith("bad.toml: invalid TOML: not UTF-8")


def test_cannot_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as exc:
        load_config("missing.toml", euid=0)
    assert exc.value.errors == ["missing.toml: cannot read: No such file or directory"]


# --- find_config_path -----------------------------------------------------------------------


def test_find_config_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPERVISORD_LITE_CONFIG", raising=False)
    etc = tmp_path / "etc.toml"
    monkeypatch.setattr(config_load, "DEFAULT_PATHS", ("supervisord_lite.toml", str(etc)))
    with pytest.raises(ConfigError) as exc:
        find_config_path(None)
    assert exc.value.errors == [
        f"no config file found (tried ./supervisord_lite.toml, {etc}); pass -c CONFIG"
    ]
    etc.write_text("")
    assert find_config_path(None) == str(etc)
    (tmp_path / "supervisord_lite.toml").write_text("")
    assert find_config_path(None) == "supervisord_lite.toml"
    (tmp_path / "env.toml").write_text("")
    monkeypatch.setenv("SUPERVISORD_LITE_CONFIG", "env.toml")
    assert find_config_path(None) == "env.toml"
    assert find_config_path(str(etc)) == str(etc)
    with pytest.raises(ConfigError) as exc:
        find_config_path("nope.toml")
    assert exc.value.errors == ["nope.toml: no such config file"]
    monkeypatch.setenv("SUPERVISORD_LITE_CONFIG", "gone.toml")
    (tmp_path / "supervisord_lite.toml").unlink()
    etc.unlink()
    with pytest.raises(ConfigError) as exc:
        find_config_path(None)
    assert "$SUPERVISORD_LITE_CONFIG=gone.toml" in exc.value.errors[0]


# --- converters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("TERM", 15), ("SIGTERM", 15), ("term", 15), ("sigkill", 9), (" HUP ", 1),
        (9, 9), ("9", 9), ("USR2", int(signal.SIGUSR2)),
    ],
)  # fmt: skip
def test_signal_number(value, expected):
    assert signal_number(value) == expected


@pytest.mark.parametrize("value", ["FOO", "", "SIG", 0, -1, NSIG, True, 1.0, None, "١٥"])
def test_signal_number_rejects(value):
    with pytest.raises(ValueError):
        signal_number(value)


def test_signal_name():
    assert signal_name(15) == "TERM"
    assert signal_name(int(signal.SIGKILL)) == "KILL"
    assert signal_name(signal_number("hup")) == "HUP"
    with pytest.raises(ValueError):
        signal_name(0)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("50MB", 50 * 1024**2), ("10KB", 10 * 1024), ("1GB", 1024**3), ("1gb", 1024**3),
        ("10kb", 10240), ("7 MB", 7 * 1024**2), ("123", 123), (123, 123), (0, 0), ("0", 0),
        ("5B", 5),
    ],
)  # fmt: skip
def test_byte_size(value, expected):
    assert byte_size(value) == expected


@pytest.mark.parametrize("value", ["-1MB", -1, "1.5MB", "5TB", "MB", "", True, 1.0, None])
def test_byte_size_rejects(value):
    with pytest.raises(ValueError):
        byte_size(value)


@pytest.mark.parametrize(
    "value, expected",
    [(0o022, 0o022), ("022", 0o022), ("0o22", 0o022), ("0O777", 0o777), ("0", 0), (18, 18)],
)
def test_octal(value, expected):
    assert octal(value) == expected


@pytest.mark.parametrize("value", ["8", "0x22", "", "abc", -1, True, 1.5, None])
def test_octal_rejects(value):
    with pytest.raises(ValueError):
        octal(value)


# --- ProgramConfig / DaemonConfig helpers ----------------------------------------------------


def test_process_names_and_lookup():
    one = ProgramConfig(name="web", command=("x",))
    many = ProgramConfig(name="wk", command=("x",), numprocs=3)
    assert one.process_names() == ["web"]
    assert many.process_names() == ["wk:0", "wk:1", "wk:2"]
    conf = DaemonConfig(
        path="/c.toml", socket="/s", pidfile="/p", logfile=None,
        programs={"web": one, "wk": many},
    )  # fmt: skip
    assert conf.process_names() == ["web", "wk:0", "wk:1", "wk:2"]
    assert conf.program("web") is one and conf.program("nope") is None
    assert conf.find_process("web") == (one, 0)
    assert conf.find_process("wk:2") == (many, 2)
    for bad in ("wk", "wk:3", "web:0", "wk:x", "nope", "wk:-1"):
        assert conf.find_process(bad) is None, bad


def test_logfile_path():
    prog = ProgramConfig(name="web", command=("x",), numprocs=2,
                         stdout_logfile="/l/web-{process_num}.log")  # fmt: skip
    assert prog.logfile_path("stdout", 1, "/logs") == "/l/web-1.log"
    assert prog.logfile_path("stderr", 1, "/logs") == "/logs/web:1.stderr.log"
    none = prog.replace(stdout_logfile="none", stderr_logfile="none")
    assert none.logfile_path("stdout", 0, "/logs") is None
    assert none.logfile_path("stderr", 0, "/logs") is None
    redirected = prog.replace(redirect_stderr=True, stdout_logfile="auto")
    assert redirected.logfile_path("stdout", 0, "/logs") == "/logs/web:0.stdout.log"
    assert redirected.logfile_path("stderr", 0, "/logs") is None
    # The process_name fields, with format specs, from numprocs_start on
    templated = prog.replace(
        stdout_logfile="/l/{group_name}-{program_name}_{process_num:02d}.log", numprocs_start=7
    )
    assert templated.logfile_path("stdout", 1, "/logs") == "/l/web-web_08.log"
    with pytest.raises(ValueError):
        prog.logfile_path("stdin", 0, "/logs")


# --- fuzz: any document -> DaemonConfig or ConfigError, never another exception ------------


def toml_string(text: str) -> str:
    # JSON's escapes are all valid TOML; TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(top: dict, daemon: dict | None, programs: dict) -> str:
    def pairs(table: dict) -> list[str]:
        return [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]

    lines = pairs(top)
    if daemon is not None:
        lines += ["[supervisord]", *pairs(daemon)]
    # A program that is not a table is written as a plain key under [programs].
    lines += ["[programs]", *pairs({k: v for k, v in programs.items() if not isinstance(v, dict)})]
    for name, table in programs.items():
        if isinstance(table, dict):
            lines += [f"[programs.{toml_string(name)}]", *pairs(table)]
    return "\n".join(lines) + "\n"


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
interesting = st.sampled_from(
    ["TERM", "sigkill", "9", "50MB", "0KB", "auto", "none", "AUTO", "unexpected", "0o22", "022",
     "x 'y", "a{process_num}", "root", ME, "nobody", "", " ", "web", "db", "all", ".",
     "a\x00b", "\x00"]
)  # fmt: skip
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-3, 300),
    st.floats(),
    text,
    interesting,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
# Plausible values per key, so that many documents get past type checks to the later
# checks (users, paths, depends_on); mixed with anything at all.
names = st.sampled_from(["web", "db", "cache", "w.v2", "all", "a b", ""])
nonneg = st.integers(0, 5) | st.floats(0, 100)
plausible = {
    "command": st.sampled_from(["true", "sleep 1", "x 'y"]) | st.lists(text, max_size=3),
    "numprocs": st.integers(0, 3),
    "umask": st.sampled_from([0o022, "022", "0o777", 0o1000]),
    "socket_mode": st.sampled_from([0o600, "0666"]),
    "max_clients": st.integers(0, 3),
    "priority": st.integers(-3, 3),
    "directory": st.sampled_from([".", "/tmp", "a/../b", "a\x00b"]),
    "environment": st.dictionaries(text, text | st.integers(), max_size=3),
    "user": st.sampled_from(["root", ME, "nobody", "no-such-user-sdl", "a\x00b"]),
    "depends_on": st.lists(names, max_size=3),
    "exitcodes": st.lists(st.integers(-1, 256), max_size=3),
    "stopsignal": st.sampled_from(["TERM", "sigkill", "9", 15, 0, "NOPE"]),
    "stdout_logfile": st.sampled_from(["auto", "none", "a.log", "a-{process_num}.log"]),
    "stderr_logfile": st.sampled_from(["auto", "none", "a.log", "a-{process_num}.log"]),
    "stdout_logfile_maxbytes": st.sampled_from(["50MB", "1kb", 0, -1, "5TB"]),
    "socket": st.sampled_from(["s.sock", "x" * 120]),
    "logfile": st.sampled_from(["none", "NONE", "d.log"]),
    "loglevel": st.sampled_from(["debug", "INFO", "loud"]),
    "allowed_uids": st.lists(st.integers(-1, 2000), max_size=2),
}
for key in ("startsecs", "backoff_max", "backoff_reset", "stopwaitsecs"):
    plausible[key] = nonneg
for key in ("startretries", "stdout_logfile_backups", "stderr_logfile_backups"):
    plausible[key] = st.integers(-1, 3)
for key in ("autostart", "stopasgroup", "redirect_stderr"):
    plausible[key] = st.booleans()
plausible["autorestart"] = st.sampled_from([True, False, "unexpected", "always"])


def tables(known_keys):
    def table(keys):
        # one_of picks a branch uniformly: plausible values twice as often as junk
        return st.fixed_dictionaries(
            {k: st.one_of(plausible.get(k, values), plausible.get(k, values), values) for k in keys}
        )

    junk = st.dictionaries(text, values, max_size=1)
    known = st.lists(st.sampled_from(sorted(known_keys)), unique=True, max_size=6).flatmap(table)
    return st.one_of(known, known, st.tuples(known, junk).map(lambda kj: {**kj[1], **kj[0]}))


program_tables = tables(config_keys.PROGRAM_KEYS)
daemon_tables = tables(set(config_keys.DAEMON_KEYS) - {"include"})
# Most program tables have a command, so the checks after the type checks are reached too.
programs = st.dictionaries(
    st.one_of(names, names, text),
    st.one_of(
        program_tables.map(lambda t: {"command": "true", **t}),
        program_tables.map(lambda t: {"command": "true", **t}),
        program_tables,
        values,
    ),
    max_size=4,
)
# include is never random: a random glob could read anything on this machine.
includes = st.sampled_from([None, [], ["conf.d/*.toml"], ["none/*"], "conf.d", [1], ["*.toml"]])


def check_outcome(path: str, euid: int) -> None:
    try:
        conf = load_config(path, euid=euid)
    except ConfigError as exc:
        assert exc.errors and all(isinstance(e, str) and e for e in exc.errors)
        assert not any("internal error" in e for e in exc.errors), exc.errors
        return
    assert isinstance(conf, DaemonConfig)
    for prog in conf.programs.values():
        assert prog.command and prog.numprocs >= 1
        for num in range(prog.numprocs):
            for stream in ("stdout", "stderr"):
                prog.logfile_path(stream, num, conf.log_dir)


@pytest.fixture(scope="module")
def fuzz_dir():
    """One directory for every fuzz example (module scope: hypothesis runs many examples
    per test call), removed when the module is done."""
    path = tempfile.mkdtemp(prefix="sdl-config-fuzz-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    top=st.dictionaries(st.sampled_from(["x", "programz", "supervisor"]), values, max_size=1),
    daemon=st.none() | daemon_tables,
    include=includes,
    progs=programs,
    included=programs,
    euid=st.sampled_from([0, 1000]),
)
def test_fuzz_documents(fuzz_dir, top, daemon, include, progs, included, euid):
    if include is not None:
        daemon = {**(daemon or {}), "include": include}
    os.makedirs(os.path.join(fuzz_dir, "conf.d"), exist_ok=True)
    main = os.path.join(fuzz_dir, "main.toml")
    with open(main, "w", encoding="utf-8") as fh:
        fh.write(toml_document(top, daemon, progs))
    with open(os.path.join(fuzz_dir, "conf.d", "inc.toml"), "w", encoding="utf-8") as fh:
        fh.write(toml_document({}, None, included))
    check_outcome(main, euid)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200) | text.map(lambda t: t.encode()))
def test_fuzz_random_bytes(fuzz_dir, data):
    main = os.path.join(fuzz_dir, "raw.toml")
    with open(main, "wb") as fh:
        fh.write(data)
    check_outcome(main, 0)


# --- equal settings are one object per load (memory: config/load_context.py shared) ----------


def test_programs_share_equal_settings(cfg):
    conf, _ = cfg(
        """
        [programs.a]
        command = ["sleep", "60"]
        startsecs = 1
        [programs.b]
        command = ["sleep", "60"]
        startsecs = 1
        [programs.c]
        command = ["sleep", "61"]
        startsecs = 2
        """
    )
    a, b, c = (conf.programs[name] for name in "abc")
    assert a.command is b.command and a.command[0] is c.command[0]
    assert a.startsecs is b.startsecs and a.stdout_logfile is c.stdout_logfile
    assert c.command == ("sleep", "61") and c.startsecs == 2.0
    assert a.processes[0] is a.name and a.group is a.name


def test_shared_values_keep_their_types():
    from supervisord_lite.config.load_context import LoadContext

    context = LoadContext("/x.toml", euid=0)
    assert type(context.shared(1)) is int and type(context.shared(1.0)) is float
    assert context.shared(True) is True and context.shared(0) == 0
    assert type(context.shared(0)) is int and type(context.shared(0.0)) is float
    assert context.shared((1,)) == (1,) and type(context.shared((1.0,))[0]) is float
    assert context.shared(("x", "y")) is context.shared(("x", "y"))
