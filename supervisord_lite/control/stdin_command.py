"""`stdin`: text written to a program's stdin, for a program with `stdin = true` (its
stdin is a pipe the daemon holds: `fg`, XML-RPC's sendProcessStdin).

The write never blocks: what the pipe takes now is written, and a program that has
not read what it was sent (a full pipe, 64 KiB) gets the rest refused with BUSY, so
no client can make the daemon buffer without bound.
"""

from __future__ import annotations

import os

from supervisord_lite.base import protocol
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.control.one_process import one_process
from supervisord_lite.control.replies import Replier
from supervisord_lite.core.states import ProcessState
from supervisord_lite.engine.supervisor import Supervisor

S = ProcessState
NOT_RUNNING = "is not running"  # the message's words the XML-RPC side maps


class StdinCommand:
    def __init__(self, supervisor: Supervisor):
        self.supervisor = supervisor
        self.handlers = {"stdin": self.cmd_stdin}

    def cmd_stdin(self, client: Replier, request: protocol.Request):
        name = protocol.arg_str(request.args, "name")
        data = protocol.arg_str(request.args, "data").encode("utf-8")
        process = one_process(self.supervisor, name)
        if not process.program.stdin:
            raise ProtocolError(
                protocol.BAD_ARGUMENT,
                f"{process.name} takes no input: set stdin = true in "
                f"[programs.{process.program.name}]",
            )
        child = process.child
        if child is None or child.stdin_fd is None or process.state not in (S.STARTING, S.RUNNING):
            raise ProtocolError(protocol.BAD_ARGUMENT, f"{process.name} {NOT_RUNNING}")
        try:
            written = os.write(child.stdin_fd, data) if data else 0
        except BlockingIOError:
            written = 0
        except BrokenPipeError:
            raise ProtocolError(protocol.BAD_ARGUMENT, f"{process.name} closed its stdin") from None
        if written < len(data):
            raise ProtocolError(
                protocol.BUSY,
                f"{process.name} has not read its stdin: {written} of {len(data)} bytes "
                "written; try again once it reads",
            )
        return {"name": process.name, "written": written}
