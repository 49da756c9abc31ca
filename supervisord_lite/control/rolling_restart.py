"""`restart --rolling` (protocol `restart` with `"rolling": true`) and the `retiring`
processes `status` lists while a roll's replaced processes exit
(engine/rolling.py does the rolling; docs/zero-downtime.md)."""

from __future__ import annotations

from supervisord_lite.base.protocol import to_json
from supervisord_lite.control.replies import Replier
from supervisord_lite.core.process import Process
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux.loop import now


def rolling_restart(
    supervisor: Supervisor,
    client: Replier,
    request_id,
    processes: list[Process],
    unknown: list[dict],
) -> None:
    """Roll `processes` one at a time; reply with one result per process."""
    retired = [p.name for p in processes if p.retired is not None]
    if retired or supervisor.shutting_down:
        why = "the daemon is shutting down" if supervisor.shutting_down else "a reload is under way"
        message = f"not rolled: {why}; try again once it has finished"
        client.reply(request_id, [{"name": p.name, "ok": False, "message": message}
                                  for p in processes] + unknown)  # fmt: skip
        return
    supervisor.rolls.roll(processes, lambda results: client.reply(request_id, results + unknown))


def with_retiring(
    supervisor: Supervisor, text: str, processes: list[Process], figures: bool = True
) -> str:
    """The status array `text` of `processes`, with the retiring processes of the same
    names after them ("retiring": true), with or without their trees' figures as the
    others. Without any, `text` as it is."""
    retiring = supervisor.rolls.retiring
    if not retiring:
        return text
    names = {p.name for p in processes}
    current = now()
    status = supervisor.status if figures else supervisor.bare_status
    extra = [to_json({**status(p, current), "retiring": True}) for p in retiring if p.name in names]
    if not extra:
        return text
    return text[:-1] + ("," if len(text) > 2 else "") + ",".join(extra) + "]"
