"""supervisor_ini reads a Supervisor config exactly as supervisord does: checked against
supervisor's own ServerOptions for every corpus config (the oracle), for what it refuses
too, and for the FILE:LINE it gives every option."""

from __future__ import annotations

import glob
import os
import shlex
import textwrap

import pytest
from convert_corpus.oracle import CORPUS, CORPUS_ENV, supervisor_processes

from supervisord_lite.convert import supervisor_ini as ini

pytestmark = pytest.mark.timeout(30)

CONFIGS = sorted(glob.glob(os.path.join(CORPUS, "*.conf")))


@pytest.fixture
def corpus_env(monkeypatch):
    for key, value in CORPUS_ENV.items():
        monkeypatch.setenv(key, value)


def ours(path: str) -> dict[str, dict]:
    """supervisor_ini's reading in the oracle's shape: {full name: settings}."""
    parsed = ini.read(path)
    global_env = parsed["supervisord"]["environment"]
    out = {}
    for program in parsed["programs"]:
        if program["kind"] == "eventlistener":
            continue
        s = program["settings"]
        for p in program["processes"]:
            group = program["group"]
            name = p["name"] if p["name"] == group else f"{group}:{p['name']}"
            out[name] = {
                "group": group,
                "process_name": p["name"],
                "command": shlex.split(p["command"]),
                "directory": p["directory"],
                "environment": {**global_env, **p["environment"]},
                "user": s["user"],
                "umask": s["umask"],
                "priority": s["priority"],
                "autostart": s["autostart"],
                "autorestart": s["autorestart"],
                "exitcodes": s["exitcodes"],
                "startsecs": s["startsecs"],
                "startretries": s["startretries"],
                "stopsignal": s["stopsignal"],
                "stopwaitsecs": s["stopwaitsecs"],
                "stopasgroup": s["stopasgroup"],
                "killasgroup": s["killasgroup"],
                "redirect_stderr": s["redirect_stderr"],
                **{
                    f"{stream}_{key}": p[f"{stream}_{key}"]
                    for stream in ("stdout", "stderr")
                    for key in ("logfile", "logfile_maxbytes", "logfile_backups")
                },
            }
    return out


def test_the_corpus_is_there():
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_process_as_supervisor_reads_it(path, corpus_env):
    theirs = supervisor_processes(path)
    mine = ours(path)
    assert list(mine) == list(theirs) or sorted(mine) == sorted(theirs)
    for name, expected in theirs.items():
        got = dict(mine[name])
        expected = dict(expected)
        expected.pop("group_priority")
        if got["user"] is not None and got["user"].isdigit():
            got["user"] = expected["user"]
        assert got == expected, name


def write(tmp_path, text: str, name: str = "supervisord.conf") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# Each is refused by supervisord itself (checked below), with the line we name.
REFUSED = {
    "no_supervisord": ("[program:a]\ncommand=/bin/true\n", None, "no [supervisord] section"),
    "syntax": ("[supervisord]\n[program:a]\ncommand=/bin/true\nnot an option\n", 4, "cannot parse"),
    "no_header": ("command=/bin/true\n", 1, "no [section] header"),
    "no_command": ("[supervisord]\n[program:a]\npriority=1\n", 2, "does not specify a command"),
    "bad_bool": ("[supervisord]\n[program:a]\ncommand=x\nautostart=maybe\n", 4, "boolean"),
    "bad_signal": ("[supervisord]\n[program:a]\ncommand=x\nstopsignal=NOPE\n", 4, "signal"),
    "bad_exitcode": ("[supervisord]\n[program:a]\ncommand=x\nexitcodes=0,256\n", 4, "exit codes"),
    "bad_size": ("[supervisord]\n[program:a]\ncommand=x\nstdout_logfile_maxbytes=5XB\n", 4, ""),
    "percent": ("[supervisord]\n[program:a]\ncommand=date +%Y\n", 3, "badly formatted"),
    "unknown_name": ("[supervisord]\n[program:a]\ncommand=x %(nope)s\n", 3, "'nope'"),
    "process_num_early": (
        "[supervisord]\n[program:a]\ncommand=x\npriority=%(process_num)d\n",
        4,
        "process_num",
    ),
    "missing_env": ("[supervisord]\n[program:a]\ncommand=x %(ENV_NOT_SET_HERE)s\n", 3, "ENV_"),
    "numprocs_no_num": ("[supervisord]\n[program:a]\ncommand=x\nnumprocs=2\n", 2, "process_num"),
    "stopasgroup_no_kill": (
        "[supervisord]\n[program:a]\ncommand=x\nstopasgroup=true\nkillasgroup=false\n",
        5,
        "killasgroup",
    ),
    "bad_env": ('[supervisord]\n[program:a]\ncommand=x\nenvironment=A="1",B\n', 4, "key/value"),
    "group_unknown": ("[supervisord]\n[group:g]\nprograms=nope\n", 3, "unknown program"),
    "listener_no_events": ("[supervisord]\n[eventlistener:l]\ncommand=x\n", 2, "events"),
    "bad_name": ("[supervisord]\n[program:a b]\ncommand=x\n", 2, "invalid name"),
    "bad_umask": ("[supervisord]\numask=9\n", 2, "octal"),
    "half_auth": ("[supervisord]\n[inet_http_server]\nport=9001\nusername=u\n", 2, "auth"),
    "bad_autorestart": ("[supervisord]\n[program:a]\ncommand=x\nautorestart=sometimes\n", 4, ""),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_as_supervisord_refuses_it_with_file_and_line(case, tmp_path, monkeypatch):
    monkeypatch.delenv("ENV_NOT_SET_HERE", raising=False)
    text, line, words = REFUSED[case]
    path = write(tmp_path, text)
    with pytest.raises(ValueError):
        supervisor_processes(path)  # the oracle refuses it too
    with pytest.raises(ini.IniError) as info:
        ini.read(path)
    message = str(info.value)
    where = f"{path}:{line}:" if line else f"{path}:"
    assert message.startswith(where), message
    assert words.lower() in message.lower()


def test_unreadable_and_missing_files_are_refused(tmp_path):
    with pytest.raises(ini.IniError, match="cannot read"):
        ini.read(str(tmp_path / "nope.conf"))
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"[supervisord]\n[program:a]\ncommand=caf\xe9\n")
    with pytest.raises(ini.IniError, match="UTF-8"):
        ini.read(str(path))


def test_every_option_knows_its_file_and_line_the_last_duplicate_wins(tmp_path):
    path = write(
        tmp_path,
        """\
        [supervisord]
        [program:a]
        command=/bin/sleep 1
          continued
        priority=1
        priority=2 ; the last wins
        [include]
        files=more/*.ini
        """,
    )
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "b.ini").write_text("[program:a]\nautostart=false\n")
    parsed = ini.read(path)
    options = parsed["sections"]["program:a"]["options"]
    assert (options["command"]["line"], options["command"]["value"]) == (
        3,
        "/bin/sleep 1\ncontinued",
    )
    assert (options["priority"]["line"], options["priority"]["value"]) == (6, "2")
    included = str(tmp_path / "more" / "b.ini")
    assert (options["autostart"]["file"], options["autostart"]["line"]) == (included, 2)
    assert parsed["programs"][0]["settings"]["priority"] == 2


def test_host_dependent_checks_are_reported_not_refused(tmp_path):
    path = write(
        tmp_path,
        """\
        [supervisord]
        logfile=/no/such/dir/sd.log
        [program:a]
        command=x
        user=no-such-user-here
        stdout_logfile=/no/such/dir/a.log
        """,
    )
    problems = {(line, key) for _, line, _, key, _ in ini.read(path)["host_problems"]}
    assert problems == {(2, "logfile"), (5, "user"), (6, "stdout_logfile")}


def test_environment_values_used_are_listed_with_their_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVERT_TEST_SECRET", "s3cret")
    path = write(
        tmp_path,
        """\
        [supervisord]
        environment=OWN="x"
        [program:a]
        command=run %(ENV_CONVERT_TEST_SECRET)s %(ENV_OWN)s %%(ENV_LITERAL)s
        environment=LOCAL="1"
        directory=/tmp/%(ENV_LOCAL)s
        """,
    )
    used = {(line, key): names for _, line, _, key, names in ini.read(path)["environ_used"]}
    # OWN and LOCAL come from the config itself; %% is a literal, not a use
    assert used == {(4, "command"): ["CONVERT_TEST_SECRET"]}


def test_a_bare_percent_s_takes_the_whole_table_as_supervisord_does(tmp_path):
    """`'date +%s' % mapping` is the mapping's repr: supervisord runs that, unrefused."""
    path = write(tmp_path, "[supervisord]\n[program:a]\ncommand=date +%s\n")
    theirs = supervisor_processes(path)["a"]["command"]
    parsed = ini.read(path)
    assert shlex.split(parsed["programs"][0]["processes"][0]["command"]) == theirs
    assert [(line, key) for _, line, _, key in parsed["unnamed_fields"]] == [(3, "command")]
