"""convert: the TOML it writes means, process by process, what supervisord makes of the
INI (supervisor's own parser is the oracle), every deviation is warned, the TOML text
round-trips every value, and the command line exits 0/2 without tracebacks."""

from __future__ import annotations

import glob
import os
import platform
import subprocess
import sys
import textwrap

import pytest
from convert_corpus.oracle import CORPUS, CORPUS_ENV, supervisor_processes, supervisor_umask
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisord_lite.config.keys import PROGRAM_KEYS
from supervisord_lite.config.values import byte_size, signal_number
from supervisord_lite.convert import converter, toml_writer

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

pytestmark = pytest.mark.timeout(60)

CONFIGS = sorted(glob.glob(os.path.join(CORPUS, "*.conf")))


@pytest.fixture
def corpus_env(monkeypatch):
    for key, value in CORPUS_ENV.items():
        monkeypatch.setenv(key, value)


def default(key):
    return PROGRAM_KEYS[key][1]


def toml_processes(doc: dict) -> dict[str, dict]:
    """What the converted TOML means per process, by the groups-and-names schema:
    {full name: the program's keys with our defaults filled in, log templates rendered}."""
    group_of = {
        member: group
        for group, spec in doc.get("groups", {}).items()
        for member in spec["programs"]
    }
    out = {}
    for name, table in doc.get("programs", {}).items():
        numprocs = table.get("numprocs", 1)
        start = table.get("numprocs_start", 0)
        group = group_of.get(name, name)
        template = table.get("process_name", "{program_name}" if numprocs == 1 else "{process_num}")
        for num in range(start, start + numprocs):
            fields = {
                "program_name": name,
                "group_name": group,
                "process_num": num,
                "numprocs": numprocs,
                "host_node_name": platform.node(),
            }
            process_name = template.format(**fields)
            full = process_name if process_name == group else f"{group}:{process_name}"
            keys = {k: table.get(k, default(k)) for k in PROGRAM_KEYS}
            for stream in ("stdout", "stderr"):
                path = keys[f"{stream}_logfile"]
                if path not in ("auto", "none"):
                    keys[f"{stream}_logfile"] = path.format(**fields)
                keys[f"{stream}_logfile_maxbytes"] = byte_size(keys[f"{stream}_logfile_maxbytes"])
            keys["group"] = group
            groups = doc.get("groups", {})
            # a program outside any group is its own group, of its own priority
            keys["group_priority"] = (
                groups[group].get("priority", 999) if group in groups else keys["priority"]
            )
            assert full not in out, f"two processes named {full}"
            out[full] = keys
    return out


def converted(path: str) -> tuple[dict, list[str], str]:
    text, warnings = converter.convert(path)
    return tomllib.loads(text), [str(w) for w in warnings], text


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_each_process_means_what_supervisord_made_of_it(path, corpus_env):
    theirs = supervisor_processes(path)
    doc, warnings, text = converted(path)
    mine = toml_processes(doc)
    assert sorted(mine) == sorted(theirs)
    supervisord_env = doc["supervisord"].get("environment", {})
    for name, want in theirs.items():
        got = mine[name]
        assert got["command"] == want["command"] or (
            isinstance(got["command"], str) and got["command"].split() == want["command"]
        ), name
        assert got["directory"] == want["directory"], name
        assert {**supervisord_env, **dict(got["environment"])} == want["environment"], name
        assert got["user"] == want["user"], name
        umask = want["umask"] if want["umask"] is not None else supervisor_umask(path)
        assert got["umask"] == umask, name
        for key in (
            "priority",
            "autostart",
            "autorestart",
            "startsecs",
            "startretries",
            "stopwaitsecs",
            "redirect_stderr",
        ):
            assert got[key] == want[key], (name, key)
        assert list(got["exitcodes"]) == want["exitcodes"], name
        assert signal_number(got["stopsignal"]) == signal_number(want["stopsignal"]), name
        # Supervisor restarts a crash loop at once: so does the converted program.
        assert got["backoff_max"] == (0 if want["autorestart"] is not False else 30.0), name
        # No separate killasgroup here: either one means the whole group (warned below).
        assert got["stopasgroup"] == (want["stopasgroup"] or want["killasgroup"]), name
        streams = ("stdout",) if want["redirect_stderr"] else ("stdout", "stderr")
        for stream in streams:
            logfile = want[f"{stream}_logfile"]
            assert got[f"{stream}_logfile"] == ("none" if logfile is None else logfile), name
            for key in ("logfile_maxbytes", "logfile_backups"):
                key = f"{stream}_{key}"
                assert got[key] == want[key], (name, key)
        if want["group"] != name.split(":")[0]:
            pytest.fail(f"{name}: group {want['group']}")
        assert got["group_priority"] == want["group_priority"], name
    warned_deviations(theirs, warnings, text)


def warned_deviations(theirs: dict, warnings: list[str], text: str) -> None:
    """Each documented deviation the oracle shows has its warning, and every warning is
    also a comment in the output."""
    for warning in warnings:
        assert f"# {warning}" in text
    if any("auto" in (p["stdout_logfile"], p["stderr_logfile"]) for p in theirs.values()):
        assert any("AUTO program logs" in w for w in warnings)
    if any(p["killasgroup"] and not p["stopasgroup"] for p in theirs.values()):
        assert any("] killasgroup: no separate killasgroup here" in w for w in warnings)


def test_laravel_workers_sharing_one_log_split_but_keep_their_names(corpus_env):
    doc, warnings, _ = converted(os.path.join(CORPUS, "laravel.conf"))
    names = ["laravel-worker_00", "laravel-worker_01", "laravel-worker_02"]
    assert doc["groups"]["laravel-worker"]["programs"] == names
    assert [doc["programs"][n]["process_name"] for n in names] == names
    logs = {doc["programs"][n]["stdout_logfile"] for n in names}
    assert logs == {os.path.join(CORPUS, "logs", "laravel-worker.log")}
    assert any(
        "laravel.conf:39: [program:laravel-worker] stdout_logfile: its 3" in w for w in warnings
    )
    # the backslash-newline of the INI is an argument holding a line break, as supervisord has it
    assert "\n--sleep=3" in doc["programs"][names[0]]["command"]
    assert any(
        "laravel.conf:29: [program:laravel-worker] command: an argument" in w for w in warnings
    )


def test_a_template_keeps_numprocs_in_one_program(tmp_path):
    (tmp_path / "w.conf").write_text(
        "[supervisord]\n[program:w]\ncommand=/bin/sleep 9\nnumprocs=2\n"
        "process_name=%(program_name)s_%(process_num)02d\n"
        "stdout_logfile=/tmp/w-%(process_num)02d.log\n"
    )
    doc, _, _ = converted(str(tmp_path / "w.conf"))
    assert doc["programs"] == {
        "w": {
            "command": ["/bin/sleep", "9"],
            "process_name": "{program_name}_{process_num:02d}",
            "numprocs": 2,
            "backoff_max": 0,
            "stopasgroup": False,
            "stdout_logfile": "/tmp/w-{process_num:02d}.log",
        }
    }
    assert "groups" not in doc


def test_a_per_process_command_splits_into_a_group_of_fixed_names(corpus_env):
    doc, warnings, _ = converted(os.path.join(CORPUS, "gunicorn.conf"))
    assert doc["groups"]["uvicorn"]["programs"] == ["uvicorn_0", "uvicorn_1"]
    assert [doc["programs"][n]["process_name"] for n in ("uvicorn_0", "uvicorn_1")] == ["0", "1"]
    assert any("[program:uvicorn]" in w and "one program per process" in w for w in warnings)
    # the other program's per-process log paths stay one program with a template
    assert doc["programs"]["web"]["stdout_logfile"].endswith("gunicorn-{process_num}.out")


def test_listeners_map_to_the_features_named(corpus_env):
    _, warnings, _ = converted(os.path.join(CORPUS, "listeners.conf"))
    by_section = {w.split("[", 1)[1].split("]", 1)[0]: w for w in warnings if "eventlistener" in w}
    assert "memory_limit" in by_section["eventlistener:memmon"]
    assert (
        "now [programs.app.health] http http://localhost:8080/health"
        in by_section["eventlistener:httpok"]
    )
    for section in ("crashmail", "batch", "fatal"):
        assert "[alerts]" in by_section[f"eventlistener:{section}"]
    assert "not supported" in by_section["eventlistener:custom"]
    joined = "\n".join(warnings)
    assert "[inet_http_server] username" in joined and "[inet_http_server] password" in joined
    assert "listeners.conf:12: [program:app] stdout_events_enabled" in joined


def test_values_from_the_environment_are_warned_without_their_value(corpus_env, monkeypatch):
    monkeypatch.setenv("APP_ENV", "top-secret-value")
    _, warnings, text = converted(os.path.join(CORPUS, "celery.conf"))
    env_warnings = [w for w in warnings if "resolved from the environment" in w]
    assert any("celery.conf:25: [program:worker] environment" in w for w in env_warnings)
    assert any("%(ENV_APP_ENV)s" in w for w in env_warnings)
    assert not any("top-secret-value" in w for w in warnings)
    assert "top-secret-value" in text  # the TOML holds the resolved value, as warned


# --- the TOML text -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(), st.dictionaries(st.text(min_size=1), st.text(), max_size=4))
def test_any_string_round_trips(value, table):
    text = "\n".join(
        [
            f"s = {toml_writer.toml_string(value)}",
            f"l = {toml_writer.toml_value([value, 'x'])}",
            f"t = {toml_writer.toml_value(table)}",
            "[keys]",
            f"{toml_writer.toml_key(value or 'k')} = 1",
        ]
    )
    doc = tomllib.loads(text)
    assert doc["s"] == value
    assert doc["l"] == [value, "x"]
    assert doc["t"] == table
    assert doc["keys"] == {value or "k": 1}


def test_strings_that_need_escaping_round_trip_through_a_whole_conversion(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVERT_TRICKY", "it's back\\slash ünï \t tab")
    (tmp_path / "s.conf").write_text(
        textwrap.dedent(
            """\
            [supervisord]
            [program:tricky]
            command=/bin/echo "a \\"quoted\\" word" 'it''s' back\\\\slash ünïcödé
                next-line
            environment=Q="%(ENV_CONVERT_TRICKY)s",BRACES="{x}",NL="a"
            stdout_logfile=/tmp/{braces}.log
            """
        )
    )
    doc, _, _ = converted(str(tmp_path / "s.conf"))
    theirs = supervisor_processes(str(tmp_path / "s.conf"))["tricky"]
    table = doc["programs"]["tricky"]
    # command, environment and log paths are templates here: "{{" is a brace
    assert [word.format() for word in table["command"]] == theirs["command"]
    assert {k: v.format() for k, v in table["environment"].items()} == theirs["environment"]
    assert table["stdout_logfile"].format() == theirs["stdout_logfile"]


# --- the command line ----------------------------------------------------------------


def run_convert(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "supervisord_lite", "convert", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=30,
    )


def test_cli_prints_toml_and_warnings_exit_0(tmp_path):
    (tmp_path / "a.conf").write_text(
        "[supervisord]\nnodaemon=true\n[program:a]\ncommand=/bin/true\n"
    )
    result = run_convert("a.conf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["programs"]["a"]["command"] == ["/bin/true"]
    assert "a.conf:2: [supervisord] nodaemon: " in result.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "a.conf: cannot read"),
        ("[supervisord]\n[program:a]\nautostart=true\n", "a.conf:2: [program:a]"),
        ("[supervisord\n", "a.conf:1: "),
        (
            "[supervisord]\n[program:a]\ncommand=x\nstartsecs=soon\n",
            "a.conf:4: [program:a] startsecs",
        ),
    ],
)
def test_cli_refuses_what_supervisord_refuses_exit_2_no_traceback(tmp_path, text, message):
    if text is not None:
        (tmp_path / "a.conf").write_text(text)
    result = run_convert("a.conf", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_output_file_is_written_whole_and_never_over_the_input(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text("[supervisord]\n[program:a]\ncommand=/bin/true\n")
    out = tmp_path / "out.toml"
    out.write_text("old")
    result = run_convert("a.conf", "-o", "out.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(out.read_text())["programs"]["a"]["command"] == ["/bin/true"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.conf", "out.toml"]  # no temp left
    for same in ("a.conf", "./a.conf", str(conf)):
        result = run_convert("a.conf", "-o", same, cwd=tmp_path)
        assert result.returncode == 2 and "input file" in result.stderr
    assert conf.read_text() == "[supervisord]\n[program:a]\ncommand=/bin/true\n"
    result = run_convert("a.conf", "-o", "no/such/dir/out.toml", cwd=tmp_path)
    assert result.returncode == 2 and "cannot write" in result.stderr
    assert "Traceback" not in result.stderr
