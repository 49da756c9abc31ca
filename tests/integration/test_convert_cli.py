"""`supervisord-lite convert` through the real CLI on the configs people trip over, and
`--check --json` of what it writes, compared with Supervisor's own reading of the INI
(tests/convert_corpus/oracle.py) where names and paths are concerned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)


def sdl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "supervisord_lite", *args], env=env,
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def write_ini(tmp_path, text: str):
    path = tmp_path / "supervisord.conf"
    path.write_text(textwrap.dedent(text))
    return path


def convert(
    tmp_path, text: str, env: dict | None = None
) -> tuple[subprocess.CompletedProcess, object]:
    ini = write_ini(tmp_path, text)
    out = tmp_path / "out.toml"
    return sdl("convert", str(ini), "-o", str(out), env=env), out


def checked(out) -> dict:
    res = sdl("-c", str(out), "--check", "--json")
    assert "Traceback" not in res.stderr, res.stderr
    return json.loads(res.stdout)


def test_an_unclosed_quote_is_named_with_file_and_line(tmp_path):
    # Supervisor's inline-comment rule cuts `bash -c "a ; b"` at " ;"
    res, _ = convert(tmp_path, """\
        [supervisord]

        [program:job]
        command=bash -c "echo a ; echo b"
        """)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert f"{tmp_path}/supervisord.conf:4: [program:job] command: cannot split it" in res.stderr
    assert "No closing quotation" in res.stderr and "inline comment" in res.stderr


def test_names_and_log_paths_resolve_as_supervisor_resolves_them(tmp_path):
    from convert_corpus.oracle import supervisor_processes

    ini = write_ini(tmp_path, f"""\
        [supervisord]
        logfile={tmp_path}/sd.log

        [program:café]
        command=/bin/sleep 100
        stdout_logfile={tmp_path}/{{{{app}}}}.log

        [program:pool]
        command=/bin/sleep 100
        numprocs=2
        process_name=%(process_num)d
        stdout_logfile={tmp_path}/pool-%(process_num)d-%(host_node_name)s.log
        stderr_logfile={tmp_path}/pool-err-%(process_num)d.log
        """)  # fmt: skip
    theirs = supervisor_processes(str(ini))
    out = tmp_path / "out.toml"
    res = sdl("convert", str(ini), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "not valid here" not in res.stderr  # nothing renamed: "café" is a name here too
    report = checked(out)
    assert report["ok"], report["errors"]
    mine = {name: (program, program["logfiles"][name])
            for program in report["programs"].values()
            for name in program["processes"]}  # fmt: skip
    assert sorted(mine) == sorted(theirs) == ["café", "pool:0", "pool:1"]
    for name, want in theirs.items():
        assert mine[name][1]["stdout"] == want["stdout_logfile"], name
    # the resolved keys hold the paths themselves, not our template syntax
    cafe = report["programs"]["café"]
    assert (
        cafe["stdout_logfile"] == theirs["café"]["stdout_logfile"] == f"{tmp_path}/{{{{app}}}}.log"
    )
    node = os.uname().nodename
    assert (
        report["programs"]["pool"]["stdout_logfile"]
        == f"{tmp_path}/pool-{{process_num}}-{node}.log"
    )


def test_names_supervisor_takes_and_we_do_not_are_renamed_apart_and_said(tmp_path):
    from convert_corpus.oracle import supervisor_processes

    ini = write_ini(tmp_path, f"""\
        [supervisord]
        logfile={tmp_path}/sd.log

        [program:caf@]
        command=/bin/sleep 100

        [program:caf_]
        command=/bin/sleep 100

        [program:wk]
        command=/bin/sleep 100
        numprocs=2
        process_name=%(program_name)s@%(process_num)d

        [group:ops+]
        programs=caf_
        """)  # fmt: skip
    assert sorted(supervisor_processes(str(ini))) == ["caf@", "ops+:caf_", "wk:wk@0", "wk:wk@1"]
    out = tmp_path / "out.toml"
    res = sdl("convert", str(ini), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "[program:caf@]: the name 'caf@' is not valid here" in res.stderr
    assert "written as 'caf__2'" in res.stderr  # "caf_" is taken by another program
    assert "[program:wk] process_name: the process name 'wk@0' is not valid here" in res.stderr
    assert "the group name 'ops+' is not valid here" in res.stderr
    report = checked(out)
    assert report["ok"], report["errors"]
    names = sorted(n for p in report["programs"].values() for n in p["processes"])
    assert names == ["caf__2", "ops_:caf_", "wk:wk_0", "wk:wk_1"]


def test_convert_details_memmon_logs_httpok_and_forking_servers(tmp_path):
    res, out = convert(tmp_path, f"""\
        [supervisord]
        logfile={tmp_path}/sd.log
        logfile_maxbytes=0
        logfile_backups=3

        [program:web]
        command=/bin/sleep 100

        [program:nginx]
        command=/usr/sbin/nginx -g "daemon off;"

        [eventlistener:memmon]
        command=memmon -p web=200MB -a 100MB
        events=TICK_60

        [eventlistener:httpok1]
        command=httpok -p web http://localhost:8000/health
        events=TICK_60

        [eventlistener:httpok2]
        command=httpok -p web http://localhost:8000/other
        events=TICK_60
        """)  # fmt: skip
    assert res.returncode == 0, res.stderr
    report = checked(out)
    web = report["programs"]["web"]
    # memmon restarts over any limit naming the process: the smallest, -a's 100MB
    assert web["memory_limit"] == 100 * 2**20
    # the daemon log is never rotated here either: nothing to warn about
    assert "logfile_maxbytes" not in res.stderr and "logfile_backups" not in res.stderr
    # one health table a program: the first httpok's, and the second one said
    assert web["health"]["http"] == "http://localhost:8000/health"
    assert "[eventlistener:httpok2]: superlance httpok: not converted for web" in res.stderr
    # Supervisor's stopasgroup=false kept, with what it means for nginx's workers
    assert report["programs"]["nginx"]["stopasgroup"] is False
    assert "[program:nginx] stopasgroup: stopasgroup = false is kept" in res.stderr
    assert "[program:web] stopasgroup" not in res.stderr
