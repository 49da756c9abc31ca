"""Every command in README.md and docs/*.md, run as written (issue 22).

Each shell block (```sh, ```bash, ```console, or an untagged block of `$ ` lines) is
either run, line by line and verbatim, by bash in a sandbox, or skipped for a reason
written below (a system change such as sudo or /etc, other hosts, the suite itself...).
A block nothing here skips is run: a new command in the docs is tested the day it is
written. Per document, the blocks run in order in one bash session (an `export` or a
daemon carries over), in a fresh directory holding:

- `.venv` -> this suite's venv (the README's install step made it; its PATH export runs);
- `configs/` (a copy of the repo's) and `example.toml` (configs/example.toml);
- every ```toml block the text just before it names as a file (`demo.toml`).

Each line must exit 0, or with the code its comment states (`# exit 3: …`); a `status`
whose comment states none may also say 3 (not all RUNNING: a valid answer). A console
block's output lines must match what the command prints. Everything the commands start
carries the test's tag and is killed by the `daemon` fixture's teardown.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELLS = ("sh", "bash", "shell", "console")

# (a text the block contains, why it is not run here). Checked in order; the first match
# wins. Each reason says where, if anywhere, the same thing is exercised instead.
SKIPS = [
    ("sudo ", "changes the system as root (systemd, /etc, init scripts): "
              "test_boot.py installs the unit and the init script in a sandbox"),
    ("systemctl", "needs systemd as PID 1: test_boot.py runs systemd-analyze verify"),
    ("systemd-analyze", "verifies units in /etc/systemd/system: test_export_systemd.py "
                        "verifies every exported unit"),
    ("docker ", "needs docker"),
    ("-H ", "needs other hosts over ssh: test_ssh_hosts.py runs these forms on a real sshd"),
    ("--hosts", "needs other hosts over ssh: test_ssh_hosts.py"),
    ("curl ", "needs a daemon with [http] on port 9001, which other tests' daemons may "
              "hold: test_http.py makes these requests"),
    ("make run", "runs the example daemon until Ctrl-C: README's next block starts it as "
                 "make run does and talks to it"),
    ("make test", "is the suite itself"),
    ("make soak", "is the suite itself (minutes)"),
    ("make bench", "runs the benchmarks against Supervisor (minutes)"),
    ("pytest", "is the suite itself"),
    ("pip install", "creates a venv and installs into it: this suite's .venv was made by "
                    "exactly that (the Makefile); the sandbox's .venv is that venv"),
    ("#!/sbin/openrc-run", "a file's content (an OpenRC script), not commands"),
    ("DAEMON=", "a file's content (/etc/default), not commands"),
    ("/etc/", "reads or writes the host's /etc"),
    ("supervisorctl-lite> ", "the interactive shell on a terminal: test_ctl_shell.py"),
    ("reload --dry-run\nadded:", "the diff of an edited config, as an illustration: "
                                 "test_ctl_habits.py runs reload --dry-run"),
    ("-c app.toml", "a host lacking /srv/app, as an illustration: test_cli_words.py checks "
                    "that exact warning"),
    ("http: NOT serving", "a daemon whose [http] port another user holds, as an "
                          "illustration: test_http_listener.py checks that exact line"),
    ("top --sort cpu | head", "pids, uptimes and CPU of a running host, as an "
                              "illustration: test_top.py checks the plain table"),
]  # fmt: skip


class Block:
    def __init__(self, doc: Path, line: int, lang: str, text: str):
        self.doc, self.line, self.lang, self.text = doc, line, lang, text

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"

    @property
    def console(self) -> bool:
        return self.lang == "console" or self.text.startswith("$ ")

    def skip_reason(self) -> str | None:
        for needle, reason in SKIPS:
            if needle in self.text:
                return reason
        return None


FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text()
    found = []
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        if lang in SHELLS or (lang == "" and body.startswith("$ ")):
            found.append(Block(doc, text[: m.start()].count("\n") + 1, lang, body))
    return found


def named_files(doc: Path) -> dict[str, str]:
    """```toml blocks that the sentence before them names as a file: `demo.toml`."""
    text = doc.read_text()
    files = {}
    for m in re.finditer(r"^```toml\n(.*?)^```", text, re.S | re.M):
        before = text[: m.start()].rstrip().rsplit("\n\n", 1)[-1]
        names = re.findall(r"`([\w.-]+\.toml)`", before)
        if names and before.endswith(":"):
            files[names[-1]] = m.group(1)
    return files


# -- turning a block into bash ----------------------------------------------------------------


def expected_codes(line: str) -> str:
    stated = re.search(r"#.*\bexit (\d+)", line)
    if stated:
        return stated.group(1)
    command = line.split("#", 1)[0]
    return "0 3" if re.search(r"\bstatus\b", command) else "0"


def sh_lines(block: Block) -> list[str]:
    out = []
    for line in block.text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        out.append(_checked(line, expected_codes(line), block.where))
    return out


def console_lines(block: Block, sandbox: Path, index: int) -> list[str]:
    """`$ cmd` then its output lines: run cmd, compare what it printed."""
    out = []
    command, expected = None, []

    def flush():
        if command is None:
            return
        want = sandbox / f".expected-{index}-{len(out)}"
        want.write_text("".join(f"{e}\n" for e in expected))
        out.append(
            f"actual=$( {command} 2>&1 ); rc=$?\n"
            + _verdict(expected_codes(command), block.where, command)
            + f'printf "%s\\n" "$actual" | diff -u {shlex.quote(str(want))} - >&2 || '
            f"{{ echo {shlex.quote(f'docs-test: {block.where}: output differs: {command}')} >&2;"
            " exit 98; }"
        )

    for line in block.text.splitlines():
        if line.startswith("$ "):
            flush()
            command, expected = line[2:], []
        elif command is not None:
            expected.append(line)
    flush()
    return out


def _checked(line: str, codes: str, where: str) -> str:
    return f"echo {shlex.quote('+ ' + line)} >&2\n{line}\nrc=$?\n" + _verdict(codes, where, line)


def _verdict(codes: str, where: str, line: str) -> str:
    said = f"printf 'docs-test: %s: exit %s, expected %s: %s\\n' {shlex.quote(where)} \"$rc\" "
    said += f"{shlex.quote(codes)} {shlex.quote(line)} >&2"
    return f'case " {codes} " in *" $rc "*) ;; *) {said}; exit 97;; esac\n'


# What a block needs running first, keyed by a text it contains: README's "while make
# run is running" block gets the example daemon, started as make run starts it.
SETUPS = {
    "-c configs/example.toml status": (
        ".venv/bin/supervisord-lite -n -c configs/example.toml >/dev/null 2>&1 &\n"
        "for i in $(seq 200); do [ -S configs/run/supervisord_lite.sock ] && break; "
        "sleep 0.05; done\n"
    ),
}
TEARDOWNS = {
    "-c configs/example.toml status": ".venv/bin/supervisorctl-lite -c configs/example.toml "
    "shutdown >/dev/null\n",
}


def script(doc: Path, sandbox: Path) -> tuple[str, list[str]]:
    """The bash script running the document's blocks, and the skipped blocks' notes."""
    parts = ["set +e", f"cd {shlex.quote(str(sandbox))}"]
    skipped = []
    for index, block in enumerate(blocks(doc)):
        reason = block.skip_reason()
        if reason is not None:
            skipped.append(f"{block.where}: skipped: {reason}")
            continue
        for key, setup in SETUPS.items():
            if key in block.text:
                parts.append(setup)
        if block.console:
            parts += console_lines(block, sandbox, index)
        else:
            parts += sh_lines(block)
        for key, teardown in TEARDOWNS.items():
            if key in block.text:
                parts.append(teardown)
    return "\n".join(parts) + "\n", skipped


def sandbox_for(doc: Path, root: Path) -> Path:
    where = root / "docs-sandbox"
    where.mkdir()
    (where / ".venv").symlink_to(Path(sys.executable).absolute().parent.parent)
    shutil.copytree(REPO / "configs", where / "configs")
    shutil.copy(REPO / "configs" / "example.toml", where / "example.toml")
    for name, text in named_files(doc).items():
        (where / name).write_text(text)
    return where


@pytest.mark.timeout(240)
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_of_the_docs_runs_as_written(doc, daemon):
    sandbox = sandbox_for(doc, daemon.dir)
    text, skipped = script(doc, sandbox)
    print("\n".join(skipped))  # shown on failure: what was not run, and why
    (sandbox / ".docs-test.sh").write_text(text)
    # The README's own "install" line puts the venv first on PATH: the same here, for
    # the pages that assume an installed supervisord-lite.
    env = {**daemon.env, "PATH": f"{sandbox / '.venv' / 'bin'}:{daemon.env['PATH']}"}
    res = subprocess.run(
        ["bash", str(sandbox / ".docs-test.sh")],
        cwd=sandbox,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert res.returncode == 0, f"{res.stderr[-4000:]}\n--- stdout ---\n{res.stdout[-2000:]}"


def test_the_tour_really_runs():
    """The README's tour is the heart of it: it must not be skipped by a rule."""
    tour = [b for b in blocks(REPO / "README.md") if "demo.toml" in b.text]
    assert len(tour) >= 2 and all(b.skip_reason() is None for b in tour), [
        (b.where, b.skip_reason()) for b in tour
    ]
    assert "demo.toml" in named_files(REPO / "README.md")
