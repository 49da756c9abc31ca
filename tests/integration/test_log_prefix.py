"""log_prefix and log_timestamps: `docker logs` of several programs reads like
`docker compose logs`; without them the bytes pass untouched."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from integration.harness import foreground_daemon, helper
from integration.test_log_faults import read_until

pytestmark = pytest.mark.timeout(60)

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def writer(count: int, **extra) -> dict:
    return {
        "command": helper("seqwriter", "--count", count, "--stderr", "--stay"),
        "startsecs": 0,
        **extra,
    }


def test_prefix_and_timestamps_mark_every_line_of_both_streams(daemon):
    daemon.start(
        {
            "web": writer(2000, log_prefix="{group}/{name} {stream}| ", log_timestamps=True),
            "plain": writer(2000),
        }
    )
    for stream in ("stdout", "stderr"):
        daemon.wait_until(lambda s=stream: daemon.read_log("web", s).count("\n") == 2000, 15)
        lines = daemon.read_log("web", stream).splitlines()
        word = "seq" if stream == "stdout" else "err"
        pattern = re.compile(rf"{STAMP} web/web {stream}\| {word} (\d{{7}}) x+")
        numbers = []
        for line in lines:
            match = pattern.fullmatch(line)
            assert match, f"unmarked line in web's {stream} log: {line!r}"
            numbers.append(int(match.group(1)))
        assert numbers == list(range(1, 2001))
    # Without the keys, the bytes are exactly what the program wrote.
    daemon.wait_until(lambda: daemon.read_log("plain").count("\n") == 2000, 15)
    expected = subprocess.run(
        helper("seqwriter", "--count", 2000), capture_output=True, text=True, check=True
    ).stdout
    assert daemon.read_log("plain") == expected


def test_compose_style_output_on_the_daemons_stdout(daemon):
    """Two programs logging to /dev/stdout of a foreground daemon (a container's PID 1):
    every line says whose it is, and each program's lines arrive whole and in order."""
    programs = {
        name: {
            # Each line in two writes: the daemon reads many half lines.
            "command": helper("seqwriter", "--count", 3000, "--split", "--stay"),
            "startsecs": 0,
            "stdout_logfile": "/dev/stdout",
            "stdout_logfile_maxbytes": 0,
            "log_prefix": "{name} | ",
        }
        for name in ("api", "worker")
    }
    daemon.write_config(programs)
    read_end, write_end = os.pipe()
    try:
        with foreground_daemon(daemon, stdout=write_end, stderr=subprocess.DEVNULL):
            os.close(write_end)
            data = read_until(
                read_end,
                lambda d: b"api | seq 0003000" in d and b"worker | seq 0003000" in d,
                40,
            )
    finally:
        os.close(read_end)
    seen: dict[str, list[int]] = {"api": [], "worker": []}
    for line in data.decode().splitlines():
        match = re.fullmatch(r"(api|worker) \| seq (\d{7}) x+", line)
        assert match, f"a line that is not one program's whole line: {line!r}"
        seen[match.group(1)].append(int(match.group(2)))
    assert seen == {"api": list(range(1, 3001)), "worker": list(range(1, 3001))}


def test_an_unfinished_line_is_written_after_a_moment(daemon):
    """A prompt or a progress bar without a newline is not held back for good."""
    script = "import sys, time; sys.stdout.write('Password: '); sys.stdout.flush(); time.sleep(300)"
    daemon.start(
        {"asker": {"command": [sys.executable, "-c", script], "startsecs": 0, "log_prefix": "> "}}
    )
    daemon.wait_until(lambda: daemon.read_log("asker") == "> Password: ", 5)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{pid} ", "unknown field {pid}"),
        ("{name", "not a valid template"),
        (7, "expected a string"),
    ],
)
def test_a_bad_prefix_is_a_config_error(daemon, value, message):
    daemon.write_config({"web": {"command": ["sleep", "1"], "log_prefix": value}})
    res = daemon.launch("--check")
    assert res.returncode == 2, res
    assert "programs.web.log_prefix" in res.stderr and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
