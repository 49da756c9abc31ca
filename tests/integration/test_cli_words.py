"""What the two commands say to someone meeting them for the first time (issue 22):
help that lists every subcommand, a missing config told as such, and advice that works
when pasted."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from integration.harness import CTL_CMD, DAEMON_CMD

pytestmark = pytest.mark.timeout(60)


def run(cmd: list[str], daemon, cwd=None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        cwd=cwd or daemon.dir,
        env=daemon.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sleeper() -> dict:
    return {"command": ["sleep", "300"], "startsecs": 0}


# -- 22.19: a missing config, a daemon already running ------------------------------------


def test_ctl_with_a_missing_config_says_so_and_exits_2(daemon):
    res = run([*CTL_CMD, "-c", "missing.toml", "status"], daemon)
    assert res.returncode == 2, res
    assert res.stderr.strip() == "supervisorctl-lite: missing.toml: no such config file", res
    assert "Start it" not in res.stderr

    res = run([*CTL_CMD, "-c", "missing.toml", "--json", "status"], daemon)
    assert res.returncode == 2, res
    assert json.loads(res.stdout) == {
        "code": "NO_CONFIG",
        "message": "missing.toml: no such config file",
    }

    daemon.config.write_bytes(b"\xff\xfe")  # cannot be read for its socket: the same
    res = run([*CTL_CMD, "-c", str(daemon.config), "status"], daemon)
    assert res.returncode == 2 and "cannot read" in res.stderr, res


@pytest.mark.parametrize("how", ["same config", "same socket"])
def test_already_running_advice_works_as_pasted(make_daemon, how):
    """A second launch of the same config (refused on the pidfile's lock), or another
    config naming the same socket: the command it suggests, pasted in another
    directory, stops the first daemon."""
    first = make_daemon()
    first.start({"web": sleeper()})
    if how == "same config":
        second = first
    else:
        second = make_daemon()
        second.write_config({"web": sleeper()}, {"socket": str(first.socket)})
    res = second.launch()
    assert res.returncode == 1, second.describe(res)
    advice = res.stderr.strip().rpartition("stop it first with: ")[2]
    assert advice == f"supervisorctl-lite -c {second.config} shutdown", res.stderr
    res = run([*CTL_CMD, *shlex.split(advice)[1:]], first, cwd="/")
    assert res.returncode == 0, res
    first.wait_until(lambda: not first.socket.exists(), 10)
    assert second.launch().returncode == 0
    second.ctl_ok("shutdown")


# -- 22.19: --wait, so that the line after the launch sees the programs up ----------------


def test_wait_returns_once_autostart_processes_are_running(daemon):
    slow = {"command": ["sleep", "300"], "startsecs": 1}
    daemon.write_config(
        {
            "web": slow,
            "ticker": {**slow, "numprocs": 2},
            "after": {**slow, "depends_on": ["web"]},
            "manual": {**slow, "autostart": False},  # never started: not waited for
            # not autostart, but started first for the program that depends on it
            "pulled": {**slow, "autostart": False},
            "puller": {**slow, "depends_on": ["pulled"]},
        }
    )
    res = daemon.launch("--wait")
    assert res.returncode == 0, daemon.describe(res)
    assert res.stderr == "", res.stderr  # not a terminal: no progress line
    status = daemon.status()
    for name in ("web", "ticker:0", "ticker:1", "after", "pulled", "puller"):
        assert status[name]["state"] == "RUNNING", status
    assert status["manual"]["state"] == "STOPPED"


def test_wait_names_a_process_that_ends_fatal(daemon):
    daemon.write_config(
        {
            "good": {"command": ["sleep", "300"], "startsecs": 0},
            "bad": {"command": ["false"], "startretries": 0, "startsecs": 1},
        }
    )
    res = daemon.launch("--wait")
    assert res.returncode == 1, daemon.describe(res)
    assert "supervisord-lite: --wait: bad is FATAL: " in res.stderr, res.stderr
    assert daemon.status()["good"]["state"] == "RUNNING"  # the daemon runs on


def test_wait_is_for_a_detaching_launch(daemon):
    daemon.write_config({"good": {"command": ["sleep", "300"]}})
    for extra in (["-n", "--wait"], ["--check", "--wait"]):
        res = run([*DAEMON_CMD, "-c", str(daemon.config), *extra], daemon)
        assert res.returncode == 2 and "--wait goes with a detaching launch" in res.stderr, res


def test_wait_ends_when_a_dependency_fails(daemon):
    """`after` waits on `bad`, which ends FATAL: `after` is refused (no state change at
    all) and --wait says why instead of waiting for it forever."""
    daemon.write_config(
        {
            "bad": {"command": ["false"], "startretries": 1, "startsecs": 1},
            "after": {"command": ["sleep", "300"], "depends_on": ["bad"]},
        }
    )
    res = daemon.launch("--wait", timeout=30)
    assert res.returncode == 1, daemon.describe(res)
    assert "--wait: bad is FATAL: " in res.stderr, res.stderr
    assert daemon.status()["after"]["state"] == "STOPPED"


# -- 22.17: help and versions --------------------------------------------------------------


def test_daemon_help_lists_every_subcommand_and_each_answers_help(daemon):
    res = run([*DAEMON_CMD, "--help"], daemon)
    assert res.returncode == 0, res
    for name in ("convert", "export", "hash-password"):
        assert f"supervisord-lite {name}" in res.stdout, res.stdout
        for flag in ("--help", "-h"):
            sub = run([*DAEMON_CMD, name, flag], daemon)
            assert sub.returncode == 0, sub
            assert sub.stdout.startswith(f"usage: supervisord-lite {name}"), sub.stdout
            assert sub.stderr == "", sub.stderr
    sub = run([*DAEMON_CMD, "export", "systemd", "--help"], daemon)
    assert sub.returncode == 0 and "-o DIR" in sub.stdout, sub
    # a real mistake is still a usage error
    assert run([*DAEMON_CMD, "hash-password", "extra"], daemon).returncode == 2
    assert run([*DAEMON_CMD, "export", "upstart"], daemon).returncode == 2


def test_launcher_version_and_ctl_version_need_no_daemon(daemon):
    res = run([*DAEMON_CMD, "--version"], daemon)
    assert res.returncode == 0 and res.stdout.startswith("supervisord-lite "), res
    res = run([*CTL_CMD, "--version"], daemon)
    assert res.returncode == 0 and res.stdout.startswith("supervisorctl-lite "), res
    assert res.stdout.split()[1] == run([*DAEMON_CMD, "--version"], daemon).stdout.split()[1]


# -- 22.18: one rule for --check, launch and reload; every error in both modes ----------


def test_a_missing_directory_warns_everywhere_and_only_its_program_fails(daemon):
    """As under supervisord: the config runs, the program whose directory is missing
    ends FATAL with the reason, every other runs. --check, launch and reload agree."""
    nowhere = daemon.path("no/such/dir")
    daemon.write_config(
        {
            "good": {"command": ["sleep", "300"], "startsecs": 0},
            "nodir": {"command": ["sleep", "300"], "directory": str(nowhere), "startretries": 0},
        }
    )
    warning = (
        f"warning: {daemon.config}: programs.nodir.directory: no such directory {nowhere}; "
        "it cannot start (FATAL) until the directory exists"
    )
    res = run([*DAEMON_CMD, "-c", str(daemon.config), "--check"], daemon)
    assert res.returncode == 0, res
    assert res.stdout == "config OK: 2 programs\n" and res.stderr == warning + "\n", res
    res = run([*DAEMON_CMD, "-c", str(daemon.config), "--check", "--json"], daemon)
    report = json.loads(res.stdout)
    assert res.returncode == 0 and report["ok"] and report["errors"] == [], report
    assert report["warnings"] == [warning.removeprefix("warning: ")]

    res = daemon.launch()
    assert res.returncode == 0 and warning in res.stderr, daemon.describe(res)
    daemon.wait_state("good", "RUNNING")
    st = daemon.wait_state("nodir", "FATAL")
    assert str(nowhere) in st["spawn_error"], st
    daemon.ctl_ok("reload")  # the same rule at reload
    nowhere.mkdir(parents=True)
    daemon.ctl_ok("start", "nodir")


def test_text_and_json_check_report_the_same_errors(daemon):
    """A bad key elsewhere used to hide the host's problems from the text --check."""
    inc = daemon.path("conf.d")
    inc.mkdir()
    (inc / "more.toml").write_text('[programs.inc]\ncommand = "x"\nstartsecs = "soon"\n')
    daemon.write_config(
        {
            "bad": {"command": ["sleep", "1"], "startsecs": -1},
            "who": {"command": ["sleep", "1"], "user": "no-such-user-here"},
            "nodir": {"command": ["./run.sh"], "directory": str(daemon.path("gone"))},
        },
        {"include": ["conf.d/*.toml"]},
    )
    text = run([*DAEMON_CMD, "-c", str(daemon.config), "--check"], daemon)
    as_json = run([*DAEMON_CMD, "-c", str(daemon.config), "--check", "--json"], daemon)
    assert text.returncode == as_json.returncode == 2, (text, as_json)
    report = json.loads(as_json.stdout)
    assert len(report["errors"]) == 3 and len(report["warnings"]) == 2, report
    expected = report["errors"] + [f"warning: {w}" for w in report["warnings"]]
    assert text.stderr.splitlines() == expected, text.stderr
    assert text.stdout == ""


def test_the_complete_example_of_the_docs_passes_check(daemon):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    block = doc.split("## Complete example", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    daemon.config.write_text(block)
    res = run([*DAEMON_CMD, "-c", str(daemon.config), "--check"], daemon)
    assert res.returncode == 0, res
    assert res.stdout == "config OK: 2 programs\n", res
