"""The document one daemon image hands the next across `reexec`: what it is, how it
travels, and what a reader accepts.

A versioned JSON object, at most MAX_BYTES, in a sealed memfd (never a file another
user could write, never the command line): the new image finds its descriptor in
SUPERVISORD_LITE_REEXEC. The descriptors that survive the exec are named by role in
`fds`: the control socket, the pidfile (its flock goes with it), the requester's
connection, held sockets by name (`sockets`), and each child's pipes (in the process
slots, engine/handover.py). A reader refuses any other format or version with the
reason, before the old image lets go (the `--takeover-check` child reads it too).
"""

from __future__ import annotations

import fcntl
import os

from supervisord_lite.base import cjson

FORMAT = "supervisord-lite-reexec"
VERSION = 1
# A thousand processes with full histories take a few MiB; bytes held back for slow
# log streams ride along (at most a chunk a log). Past this, something is wrong.
MAX_BYTES = 128 * 1024 * 1024
ENV = "SUPERVISORD_LITE_REEXEC"

_SEALS = (
    getattr(fcntl, "F_SEAL_SEAL", 1)
    | getattr(fcntl, "F_SEAL_SHRINK", 2)
    | getattr(fcntl, "F_SEAL_GROW", 4)
    | getattr(fcntl, "F_SEAL_WRITE", 8)
)
_F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)
# Through _json (base/cjson.py): the daemon never loads the json package.
_encode = cjson.encoder((",", ":"), ensure_ascii=False, allow_nan=True)


class StateError(Exception):
    """The document cannot be taken over: the message says why."""


def new_document(**fields) -> dict:
    return {"format": FORMAT, "version": VERSION, **fields}


def write(document: dict) -> int:
    """The document in a sealed memfd, inheritable, positioned at 0: its descriptor."""
    data = _encode(document).encode()
    if len(data) > MAX_BYTES:
        raise StateError(f"the state is {len(data)} bytes, more than {MAX_BYTES}")
    fd = os.memfd_create("supervisord-lite-reexec", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, _F_ADD_SEALS, _SEALS)  # nobody changes it from here on
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return fd


def read(fd: int) -> dict:
    """The document behind fd (read with pread: the descriptor's offset stays), checked
    for format, version and shape; raises StateError saying what is wrong."""
    try:
        size = os.fstat(fd).st_size
        if size > MAX_BYTES:
            raise StateError(f"the state is {size} bytes, more than {MAX_BYTES}")
        chunks, offset = [], 0
        while offset < size:
            chunk = os.pread(fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
    except OSError as exc:
        raise StateError(f"cannot read the state (fd {fd}): {exc.strerror}") from None
    try:
        document = cjson.loads(b"".join(chunks))
    except ValueError as exc:
        raise StateError(f"the state is not JSON: {exc}") from None
    check(document)
    return document


def check(document: object) -> None:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateError("the state is not a supervisord-lite reexec document")
    version = document.get("version")
    if version != VERSION:
        raise StateError(
            f"the state is version {version!r}; this supervisord-lite reads version {VERSION}"
        )
    for key, kind in (("config", str), ("fds", dict), ("processes", dict)):
        if not isinstance(document.get(key), kind):
            raise StateError(f"the state's {key!r} is missing or not a {kind.__name__}")
    fds = document["fds"]
    for role in ("control", "pidfile"):
        if not isinstance(fds.get(role), int):
            raise StateError(f"the state names no {role} descriptor")


def fd_from_env(environ: dict) -> int | None:
    """The state's descriptor named in the environment (taken out of it: children never
    see it), or None when this start is not a takeover."""
    value = environ.pop(ENV, None)
    if value is None:
        return None
    if not value.isdigit():
        raise StateError(f"{ENV}={value!r} is not a descriptor number")
    return int(value)
