"""The ctl's interactive shell, driven through a pseudo-terminal, and the completion
scripts, run by a real bash (SPEC §6)."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import time

import pytest

from integration.harness import BIN, CTL_CMD, helper

pytestmark = pytest.mark.timeout(40)

PROMPT = b"supervisorctl-lite> "
UP = b"\x1b[A"


def sleeper(**extra) -> dict:
    return {"command": ["sleep", "300"], "startsecs": 0, **extra}


class Terminal:
    """The ctl shell on a pseudo-terminal: type keys, read what it shows."""

    def __init__(self, daemon, home):
        env = {**daemon.env, "HOME": str(home), "TERM": "xterm", "INPUTRC": "/dev/null"}
        argv = [*CTL_CMD, "-c", str(daemon.config)]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the ctl on the terminal
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.seen = bytearray()

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def read_until(self, wanted: bytes, timeout: float = 10.0, start: int = 0) -> bytes:
        """Read until `wanted` shows after offset `start`; the output from `start` on."""
        deadline = time.monotonic() + timeout
        while wanted not in self.seen[start:]:
            left = deadline - time.monotonic()
            assert left > 0, f"no {wanted!r} within {timeout}s; screen: {bytes(self.seen)!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the ctl has exited
                    chunk = b""
                assert chunk, f"the shell ended before {wanted!r}: {bytes(self.seen)!r}"
                self.seen += chunk
        return bytes(self.seen[start:])

    def mark(self) -> int:
        return len(self.seen)

    def prompt_after(self, start: int) -> bytes:
        return self.read_until(PROMPT, start=start)

    def wait_exit(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    self.seen += os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
        raise AssertionError(f"the shell did not exit: {bytes(self.seen)!r}")

    def close(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = 0
        os.close(self.fd)


@pytest.fixture
def terminals(daemon, tmp_path):
    opened: list[Terminal] = []

    def open_terminal() -> Terminal:
        term = Terminal(daemon, tmp_path)
        opened.append(term)
        term.read_until(PROMPT)
        return term

    try:
        yield open_terminal
    finally:
        for term in opened:
            term.close()


def test_tab_completes_a_command_and_a_process_name(daemon, terminals):
    daemon.start({"db": sleeper(), "web": sleeper(numprocs=2)})
    term = terminals()
    start = term.mark()
    term.type(b"statu\t")
    term.read_until(b"status ", start=start)
    term.type(b"d\t")
    term.read_until(b"status db ", start=start)
    term.type(b"\n")
    out = term.prompt_after(start)
    assert b"RUNNING" in out and b"web:0" not in out


def test_tab_offers_groups_and_processes_of_a_program(daemon, terminals):
    daemon.start({"db": sleeper(), "web": sleeper(numprocs=2)})
    term = terminals()
    start = term.mark()
    term.type(b"stop web:\t\t")  # ambiguous: the second TAB lists the choices
    out = term.read_until(b"web:1", start=start)
    assert b"web:0" in out
    term.type(b"\x15")  # Ctrl-U: drop the line
    assert daemon.state("web:0") == "RUNNING"


def test_history_is_recalled_in_the_next_session(daemon, terminals, tmp_path):
    daemon.start({"db": sleeper()})
    first = terminals()
    start = first.mark()
    first.type(b"pid db\n")
    first.prompt_after(start)
    first.type(b"\x04")  # Ctrl-D: end of input
    assert first.wait_exit() == 0
    assert "pid db" in (tmp_path / ".supervisorctl_lite_history").read_text()

    second = terminals()
    start = second.mark()
    second.type(UP)
    second.read_until(b"pid db", start=start)
    second.type(b"\n")
    out = second.prompt_after(start + 1)
    pid = str(daemon.status("db")["db"]["pid"]).encode()
    assert pid in out, out


def test_ctrl_c_ends_tail_f_and_returns_to_the_prompt(daemon, terminals):
    command = helper("seqwriter", "--interval", "0.05")
    daemon.start({"w": {"command": command, "startsecs": 0}})
    term = terminals()
    term.type(b"tail -f w\n")
    term.read_until(b"seq ")
    term.type(b"\x03")
    start = term.mark()
    term.read_until(PROMPT, start=start)
    start = term.mark()
    term.type(b"status w\n")  # the shell is alive and has a working connection again
    out = term.prompt_after(start)
    assert b"RUNNING" in out and b"seq " not in out.split(b"status w", 1)[1]
    term.type(b"\x04")  # Ctrl-D
    assert term.wait_exit() == 0


def test_help_and_quit(daemon, terminals):
    daemon.start({"db": sleeper()})
    term = terminals()
    start = term.mark()
    term.type(b"help\n")
    out = term.prompt_after(start)
    assert b"maintail" in out and b"_names" not in out
    start = term.mark()
    term.type(b"help clear\n")
    assert b"usage: supervisorctl-lite clear" in term.prompt_after(start)
    term.type(b"quit\n")
    assert term.wait_exit() == 0


def test_without_a_terminal_lines_are_read_as_a_script(daemon):
    daemon.start({"db": sleeper(), "cron": sleeper(autostart=False)})
    res = subprocess.run(
        [*CTL_CMD, "-c", str(daemon.config)],
        input="status db\n\nstart cron\nstatus cron\n",
        capture_output=True,
        text=True,
        env=daemon.env,
        timeout=20,
    )
    assert res.returncode == 0, daemon.describe(res)
    assert "supervisorctl-lite>" not in res.stdout
    lines = res.stdout.splitlines()
    assert lines[0].startswith("db ") and "RUNNING" in lines[0]
    assert lines[1] == "cron: started"
    assert lines[2].startswith("cron ") and "RUNNING" in lines[2]


def test_a_script_exits_with_its_last_commands_code(daemon):
    daemon.start({"db": sleeper()})
    res = subprocess.run(
        [*CTL_CMD, "-c", str(daemon.config)],
        input="status db\nstatus nope\n",
        capture_output=True,
        text=True,
        env=daemon.env,
        timeout=20,
    )
    assert res.returncode == 3, daemon.describe(res)
    assert "no such process: nope" in res.stderr


# -- completion scripts ----------------------------------------------------------------


def bash_complete(daemon, line: str) -> list[str]:
    """What bash offers for `line` (the cursor at its end) with our script sourced."""
    script = subprocess.run(
        [*CTL_CMD, "completion", "bash"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    program = f"{BIN}/supervisorctl-lite"
    code = (
        f"{script}\n"
        f'COMP_LINE="{program} -c {daemon.config} {line}"\n'
        "COMP_POINT=${#COMP_LINE}\n"
        'read -r -a COMP_WORDS <<< "$COMP_LINE"\n'
        "COMP_CWORD=${#COMP_WORDS[@]}\n"
        "_supervisorctl_lite\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    res = subprocess.run(
        ["bash", "--norc", "-c", code], capture_output=True, text=True, env=daemon.env, timeout=20
    )
    assert res.returncode == 0, res.stderr
    return sorted(res.stdout.split())


def test_bash_completion_of_commands_and_names(daemon):
    daemon.start({"db": sleeper(), "web": sleeper(numprocs=2)})
    assert bash_complete(daemon, "sta") == ["start", "status"]
    assert bash_complete(daemon, "stop d") == ["db"]
    # bash replaces only what follows the colon
    assert bash_complete(daemon, "stop web:") == ["*", "0", "1"]
    assert bash_complete(daemon, "tail db ") == ["stderr", "stdout"]
    assert bash_complete(daemon, "reload --d") == ["--dry-run"]


def test_bash_completion_of_groups(daemon):
    worker = sleeper(numprocs=2, process_name="q_{process_num:02d}")
    daemon.write_config({"q": worker})
    daemon.config.write_text(daemon.config.read_text() + '[groups.workers]\nprograms = ["q"]\n')
    daemon.start()
    assert bash_complete(daemon, "stop workers:") == ["*", "q_00", "q_01"]
    assert bash_complete(daemon, "stop wo") == [
        "workers",
        "workers:*",
        "workers:q_00",
        "workers:q_01",
    ]


def test_bash_completion_without_a_daemon_offers_no_names(daemon):
    daemon.write_config({"db": sleeper()})
    assert bash_complete(daemon, "stop d") == []
    assert bash_complete(daemon, "mai") == ["maintail"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_loads(daemon):
    script = subprocess.run(
        [*CTL_CMD, "completion", "zsh"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    res = subprocess.run(
        ["zsh", "-f", "-c", f"autoload -U compinit && compinit -u\n{script}"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert res.returncode == 0, res.stderr
