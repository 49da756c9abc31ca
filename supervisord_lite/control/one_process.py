"""The one process a name means, for the commands that act on exactly one (pid, tail)."""

from __future__ import annotations

from supervisord_lite.base import protocol
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.core.process import Process
from supervisord_lite.engine.supervisor import Supervisor


def one_process(supervisor: Supervisor, name: str) -> Process:
    """The one process NAME means (a full name, or a program or group of one);
    ProtocolError when it means none or several."""
    processes, unknown = supervisor.resolve([name])
    if unknown or not processes:
        raise ProtocolError(protocol.NO_SUCH_PROCESS, f"no such process: {name}")
    if len(processes) > 1:
        names = ", ".join(p.name for p in processes)
        raise ProtocolError(
            protocol.BAD_ARGUMENT, f"{name} has several processes; name one of: {names}"
        )
    return processes[0]
