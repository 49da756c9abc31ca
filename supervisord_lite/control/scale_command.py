"""The `scale` command: a program's number of processes set at runtime.

`{"cmd": "scale", "args": {"program": "web", "numprocs": 8}}`. The reply comes once the
new tail processes are RUNNING (or failed to start: `results`, as `start` gives), or
once the tail that goes has stopped (`stopped`); engine/scaling.py does the work.
"""

from __future__ import annotations

from typing import Callable

from supervisord_lite.base import protocol
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.control.replies import LATER, Replier
from supervisord_lite.core.process import Process
from supervisord_lite.engine.scaling import ScaleError
from supervisord_lite.engine.supervisor import Supervisor

_CODES = {
    "unknown": protocol.NO_SUCH_PROCESS,
    "invalid": protocol.BAD_ARGUMENT,
    "busy": protocol.BUSY,
}

# Commands._wait_started: done(results) once every process is RUNNING or has failed.
WaitStarted = Callable[[Replier, list[Process], Callable[[list[dict]], None]], None]


def cmd_scale(
    supervisor: Supervisor, wait_started: WaitStarted, client: Replier, request: protocol.Request
):
    args = request.args
    name = protocol.arg_str(args, "program", "")
    if not name:
        raise ProtocolError(protocol.BAD_ARGUMENT, "scale needs a program name")
    count = protocol.arg_int(args, "numprocs", -1)
    replied: dict = {}

    def stopped(names: list[str]) -> None:
        if "result" in replied:
            client.reply(request.id, {**replied["result"], "stopped": names, "results": []})

    try:
        result = supervisor.scale(name, count, stopped)
    except ScaleError as exc:
        raise ProtocolError(_CODES[exc.kind], str(exc)) from None
    replied["result"] = result
    if result["stopping"]:
        return LATER  # stopped() replies
    started = [supervisor.processes[n] for n in result["started"] if n in supervisor.processes]
    if not started:
        return {**result, "stopped": [], "results": []}
    wait_started(
        client,
        started,
        lambda results: client.reply(request.id, {**result, "stopped": [], "results": results}),
    )
    return LATER
