"""config/env_file.py: systemd's EnvironmentFile= syntax, and reading the files.

Where this machine has systemd's shared library, the parser is also compared with
systemd's own (load_env_file + strv_env_clean_with_callback, called through ctypes) on
generated files.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from supervisord_lite.config import env_file

pytestmark = pytest.mark.timeout(30)


def values(text: str) -> dict[str, str]:
    assignments, _ = env_file.parse(text, "f")
    return dict(assignments)


def warnings(text: str) -> list[str]:
    return env_file.parse(text, "f")[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\nB=two words\n", {"A": "1", "B": "two words"}),
        ("  A  =   spaced value   \n", {"A": "spaced value"}),
        ("A=\n", {"A": ""}),
        ("A=1", {"A": "1"}),  # no newline at the end
        ("# comment\n; comment too\n  # indented\nA=1\n", {"A": "1"}),
        ("A=b # not a comment\n", {"A": "b # not a comment"}),
        ("A='single $HOME \\n \"q\"'\n", {"A": 'single $HOME \\n "q"'}),
        ('A="double \\" \\\\ \\` \\$ kept"\n', {"A": 'double " \\ ` $ kept'}),
        ('A="other \\n \\t backslashes stay"\n', {"A": "other \\n \\t backslashes stay"}),
        ('A="  inner spaces kept  "  \n', {"A": "  inner spaces kept  "}),
        ("A=\"x\"'y'z\n", {"A": "xyz"}),
        ("A=\"x\"  'y'\n", {"A": "xy"}),  # whitespace between quoted pieces goes
        ("A=escaped\\ space\\\\b\n", {"A": "escaped space\\b"}),
        ("A=trailing\\ \n", {"A": "trailing "}),
        ("A=one\\\ntwo\nB=2\n", {"A": "onetwo", "B": "2"}),
        ('A="one \\\ntwo"\n', {"A": "one two"}),
        ("A='multi\nline'\nB=2\n", {"A": "multi\nline", "B": "2"}),
        ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
        ("A='crlf inside'\r\n", {"A": "crlf inside"}),
        ("A=1\nA=2\n", {"A": "2"}),
        ("A=$B ${C}\n", {"A": "$B ${C}"}),  # no expansion
        ("#comment\\\nA=1\n", {"A": "1"}),  # systemd >= 254: a comment does not continue
        ("A=caf\u00e9 \u2603\n", {"A": "caf\u00e9 \u2603"}),
        ("_under=1\nlower=2\nA9=3\n", {"_under": "1", "lower": "2", "A9": "3"}),
        ("A=x=y=z\n", {"A": "x=y=z"}),
        ('A="unterminated\nB=2\n', {"A": "unterminated\nB=2\n"}),
    ],
)
def test_values_as_systemd_reads_them(text, expected):
    assert values(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("export A=1\n", 'f:1: "export A" is shell syntax; systemd ignores it: write A=...'),
        ("\n\n1A=2\n", 'f:3: "1A" is not a valid variable name'),
        ("A-B=2\n", '"A-B" is not a valid variable name'),
        ("A.B=2\n", '"A.B" is not a valid variable name'),
        ("A B=2\n", '"A B" is not a valid variable name'),
        ("=value\n", 'no "=" in "=value"'),
        ("JUSTANAME\nA=1\n", 'f:1: no "=" in "JUSTANAME": line ignored'),
        ("A=1\nB='open\n", "f:2: a quote is never closed: B takes the rest of the file"),
    ],
)
def test_ignored_lines_are_explained_with_file_and_line(text, says):
    found = warnings(text)
    assert any(says in warning for warning in found), found


def test_ignored_lines_leave_the_others():
    assert values("export A=1\nB=2\n1C=3\nD=4\n") == {"B": "2", "D": "4"}


def test_invalid_utf8_or_a_nul_refuses_the_file():
    undecodable = b"A=1\nB=caf\xe9\n".decode("utf-8", "surrogateescape")
    with pytest.raises(env_file.EnvFileError, match="f:2: invalid UTF-8 in the value of B"):
        env_file.parse(undecodable, "f")
    with pytest.raises(env_file.EnvFileError, match="f:2: a NUL byte"):
        env_file.parse("A=1\nB=x\0y\n", "f")
    # In a comment it is not an assignment: systemd reads the file.
    in_comment = b"# caf\xe9\nA=1\n".decode("utf-8", "surrogateescape")
    assert dict(env_file.parse(in_comment, "f")[0]) == {"A": "1"}


def test_names():
    assert env_file.is_valid_name("PATH") and env_file.is_valid_name("_x9")
    assert not env_file.is_valid_name("") and not env_file.is_valid_name("9x")
    assert not env_file.is_valid_name("A-B") and not env_file.is_valid_name("\u00e9")


# --- reading files ------------------------------------------------------------------------


def write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_files_merge_in_order_and_relative_paths_use_the_base(tmp_path):
    first = write(tmp_path / "first", b"A=1\nB=1\n")
    write(tmp_path / "second.env", b"B=2\nC=2\n")
    loaded = env_file.read_env_files([first, "second.env"], str(tmp_path))
    assert loaded.environment == {"A": "1", "B": "2", "C": "2"}
    assert (loaded.errors, loaded.warnings) == ([], [])


def test_a_missing_optional_file_is_skipped_a_missing_required_one_is_an_error(tmp_path):
    present = write(tmp_path / "present", b"A=1\n")
    missing = str(tmp_path / "missing")
    loaded = env_file.read_env_files(["-" + missing, present])
    assert loaded.environment == {"A": "1"} and loaded.errors == [] and loaded.warnings == []
    loaded = env_file.read_env_files([missing, present])
    assert loaded.errors == [f"{missing}: No such file or directory"]
    assert loaded.environment == {"A": "1"}


def test_only_regular_files_are_read(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)  # opening it without O_NONBLOCK would wait for a writer forever
    loaded = env_file.read_env_files([fifo, str(tmp_path), "/dev/zero"])
    assert loaded.errors == [
        f"{fifo}: not a regular file",
        f"{tmp_path}: not a regular file",
        "/dev/zero: not a regular file",
    ]
    link = tmp_path / "link"
    link.symlink_to(write(tmp_path / "target", b"A=1\n"))
    assert env_file.read_env_files([str(link)]).environment == {"A": "1"}


def test_a_file_too_big_is_refused(tmp_path):
    big = write(tmp_path / "big", b"A=" + b"x" * env_file.MAX_FILE_BYTES + b"\n")
    loaded = env_file.read_env_files([big])
    assert loaded.errors == [f"{big}: larger than 256 KiB"] and loaded.environment == {}
    just_fits = write(tmp_path / "fits", b"A=" + b"x" * (env_file.MAX_FILE_BYTES - 3) + b"\n")
    assert len(env_file.read_env_files([just_fits]).environment["A"]) == env_file.MAX_FILE_BYTES - 3


NOBODY = 65534


def read_as_nobody(paths: list[str]) -> tuple[list[str], list[str]]:
    """read_env_files in a forked child that dropped to nobody (root reads anything)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            loaded = env_file.read_env_files(paths)
            os.write(w, repr((loaded.errors, loaded.warnings)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    return eval(data)  # our own repr of two lists of str


def test_an_unreadable_file(tmp_path):
    directory = tempfile.mkdtemp(prefix="sdl-env-")  # tmp_path is not open to nobody
    try:
        secret = os.path.join(directory, "secret")
        with open(secret, "wb") as file:
            file.write(b"A=1\n")
        os.chmod(secret, 0)
        os.chmod(directory, 0o755)
        if os.geteuid() == 0:
            errors, warnings_found = read_as_nobody([secret, "-" + secret])
        else:
            loaded = env_file.read_env_files([secret, "-" + secret])
            errors, warnings_found = loaded.errors, loaded.warnings
        assert errors == [f"{secret}: Permission denied"]
        assert warnings_found == [f"{secret}: Permission denied"]
    finally:
        shutil.rmtree(directory)


def test_a_broken_optional_file_is_a_warning_and_gives_nothing(tmp_path):
    broken = write(tmp_path / "broken", b"A=1\nB=\xff\n")
    loaded = env_file.read_env_files(["-" + broken])
    assert loaded.environment == {} and loaded.errors == []
    assert loaded.warnings == [
        f"{broken}:2: invalid UTF-8 in the value of B: "
        + ("systemd refuses such a file whole, and so do we")
    ]
    assert env_file.read_env_files([broken]).errors == loaded.warnings


# --- against systemd's own parser -----------------------------------------------------------


def systemd_library():
    for path in sorted(glob.glob("/usr/lib/*/systemd/libsystemd-shared-*.so")) + sorted(
        glob.glob("/usr/lib/systemd/libsystemd-shared-*.so")
    ):
        try:
            library = ctypes.CDLL(path)
            library.load_env_file  # noqa: B018 (present in every version since 240)
            library.strv_env_clean_with_callback  # noqa: B018
        except (OSError, AttributeError):
            continue
        version = int(re.search(r"shared-(\d+)", path).group(1))
        strv = ctypes.POINTER(ctypes.c_char_p)
        library.load_env_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(strv)]
        library.load_env_file.restype = ctypes.c_int
        library.strv_env_clean_with_callback.argtypes = [strv, ctypes.c_void_p, ctypes.c_void_p]
        library.strv_env_clean_with_callback.restype = strv
        return library, version
    return None, 0


SYSTEMD, SYSTEMD_VERSION = systemd_library()
needs_systemd = pytest.mark.skipif(SYSTEMD is None, reason="no libsystemd-shared on this machine")


def systemd_reads(path: str):
    """What a systemd unit gets from this EnvironmentFile: a dict, or the error number."""
    strv = ctypes.POINTER(ctypes.c_char_p)()
    result = SYSTEMD.load_env_file(None, path.encode(), ctypes.byref(strv))
    if result < 0:
        return result
    found: dict[str, str] = {}
    if strv:
        cleaned = SYSTEMD.strv_env_clean_with_callback(strv, None, None)
        index = 0
        while cleaned[index] is not None:
            key, _, value = cleaned[index].decode("utf-8").partition("=")
            found[key] = value
            index += 1
    return found  # (a few bytes leak per call: a test process)


def comment_ends_in_backslash(text: str) -> bool:
    """Before systemd 254 such a comment swallowed the next line."""
    return any(
        line.lstrip(" \t").startswith(("#", ";")) and line.endswith("\\")
        for line in re.split(r"[\r\n]", text)
    )


PIECES = list("xy #;'\"\\$`=\t\n\r") + ["\u00e9", "\\\n", "\r\n"]
ANY_TEXT = st.lists(st.sampled_from([*PIECES, "A", "B_9", "export "]), max_size=40).map("".join)
KEYS = st.sampled_from(["A", "B_9", "_", " A ", "\tB", "export A", "1A", "A-B", ""])
LINE = st.one_of(
    st.tuples(KEYS, st.lists(st.sampled_from(PIECES), max_size=12)).map(
        lambda key_value: f"{key_value[0]}={''.join(key_value[1])}"
    ),
    st.lists(st.sampled_from(PIECES), max_size=8).map(lambda rest: "#" + "".join(rest)),
    st.tuples(st.sampled_from(["'", '"']), st.lists(st.sampled_from(PIECES), max_size=8)).map(
        lambda quote_body: f"A={quote_body[0]}{''.join(quote_body[1])}{quote_body[0]}"
    ),
)
ASSIGNMENTS = st.tuples(st.lists(LINE, max_size=6), st.sampled_from(["\n", "\r\n"])).map(
    lambda lines_end: lines_end[1].join(lines_end[0])
)


@needs_systemd
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(ANY_TEXT, ASSIGNMENTS))
def test_same_variables_as_systemd(tmp_path, text):
    assume(SYSTEMD_VERSION >= 254 or not comment_ends_in_backslash(text))
    path = write(tmp_path / "env", text.encode("utf-8"))
    assert env_file.read_env_files([path]).environment == systemd_reads(path)


@needs_systemd
@pytest.mark.parametrize(
    "data",
    [b"A=1\nB=\xff\n", b"A=1\n# \xff\nB=2\n", b"A=x\0y\n", b"\xfe=1\n", b"A='\xc3'\n"],
)
def test_same_refusals_as_systemd(tmp_path, data):
    path = write(tmp_path / "env", data)
    ours, theirs = env_file.read_env_files([path]), systemd_reads(path)
    if isinstance(theirs, int):
        assert ours.errors and ours.environment == {}
    else:
        assert ours.errors == [] and ours.environment == theirs
