"""Config files are read only when they are regular files, and only up to a bound, by
the daemon (`-c`, `--check`, includes) and by `convert` (the INI and its [include]s);
a file that fails to parse is named, never quoted (an [include] can name /etc/shadow,
and convert often runs as root)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from integration.harness import DAEMON_CMD

pytestmark = pytest.mark.timeout(60)

SECRET = "root:$6$SECRETSALT$SECRETHASHSECRETHASH:19000:0:99999:7:::"


def run(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    """The real CLI, with its memory capped: a reader of /dev/zero dies, not the host."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run([*argv], capture_output=True, text=True, timeout=30, cwd=cwd,
                          preexec_fn=cap_memory, stdin=subprocess.DEVNULL)  # fmt: skip


def convert(path) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "supervisord_lite", "convert", str(path))


def ini(tmp_path, include: str) -> str:
    path = tmp_path / "supervisord.conf"
    path.write_text(f"[supervisord]\n\n[program:a]\ncommand=/bin/true\n\n"
                    f"[include]\nfiles = {include}\n")  # fmt: skip
    return path


def test_an_included_secret_file_is_never_echoed(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text(SECRET + "\nbin:*:19000:0:99999:7:::\n")
    secret.chmod(0o600)
    res = convert(ini(tmp_path, str(secret)))
    assert res.returncode == 2, res.stderr
    assert f"{secret}:1: no [section] header before this line" in res.stderr
    assert "SECRET" not in res.stderr + res.stdout and "bin:" not in res.stderr
    assert "Traceback" not in res.stderr


def test_a_bad_line_is_named_not_quoted(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text("[supervisord]\n[program:a]\ncommand=/bin/true\nSECRET line without equals\n")
    res = convert(conf)
    assert res.returncode == 2
    assert f"{conf}:4: cannot parse this line (expected key = value)" in res.stderr
    assert "SECRET" not in res.stderr


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "huge"])
def test_convert_reads_only_bounded_regular_files(tmp_path, target):
    if target == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    elif target == "huge":  # a regular file, but no config is 5 MiB of comments
        target = str(tmp_path / "huge.conf")
        with open(target, "w") as fh:
            fh.write("[supervisord]\n" + ("; padding\n" * 520_000))
    kind = ("a character device, not a regular file" if target == "/dev/zero" else
            "larger than 4 MiB" if target.endswith("huge.conf") else
            "a FIFO, not a regular file")  # fmt: skip
    # as the file given, and as an [include]
    res = convert(target)
    assert res.returncode == 2 and f"{target}: cannot read: {kind}" in res.stderr, res.stderr
    res = convert(ini(tmp_path, target))
    assert res.returncode == 2, res.stderr
    assert "[include] files:" in res.stderr and f"{target}: cannot read: {kind}" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "huge"])
def test_the_daemon_and_check_read_only_bounded_regular_files(tmp_path, target):
    if target == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    elif target == "huge":
        target = str(tmp_path / "huge.toml")
        with open(target, "w") as fh:
            fh.write("# padding\n" * 520_000)
    for args in (["--check"], ["--check", "--json"], ["-n"]):
        res = run(*DAEMON_CMD, "-c", target, *args, cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        assert f"{target}: cannot read: " in res.stdout + res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr
    # as an include too: matched by a glob, or named
    main = tmp_path / "main.toml"
    main.write_text(f'[supervisord]\nsocket = "s.sock"\ninclude = ["{target}"]\n')
    res = run(*DAEMON_CMD, "-c", str(main), "--check")
    assert res.returncode == 2 and f"{target}: cannot read: " in res.stdout + res.stderr
