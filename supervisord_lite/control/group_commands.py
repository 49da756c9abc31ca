"""The commands that change the running config one group at a time: `update`, `add`,
`remove` (Supervisor's words; its XML-RPC addProcessGroup and removeProcessGroup).

Each reads the config on disk (except `remove`, which only takes a group out), builds
the running config with just those groups' change (engine/group_changes.py) and asks
the daemon for the one reload there is: it stops what goes, starts what comes, and
answers with the program-level diff. A reload already under way is BUSY, as for
`reload`.
"""

from __future__ import annotations

from typing import Callable, Optional

from supervisord_lite.base import protocol
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.config.model import DaemonConfig
from supervisord_lite.control.replies import LATER, Replier
from supervisord_lite.core.ordering import AT_REST
from supervisord_lite.engine.group_changes import (
    NO_SUCH_GROUP,
    running_groups,
    with_groups,
    without_group,
)
from supervisord_lite.engine.supervisor import Supervisor

# pick(current config, load the config on disk) -> the config to move to; it raises
# ConfigError or GroupChangeError (a ValueError) when it cannot be made.
Pick = Callable[[DaemonConfig, Callable[[], DaemonConfig]], DaemonConfig]
# request_reload(done(diff or None, errors), pick or None for the whole config on disk)
RequestReload = Callable[[Callable[[Optional[dict], list[str]], None], "Pick | None"], None]


class GroupCommands:
    """`update`, `add` and `remove`, for the command table (control/commands.py's)."""

    def __init__(self, supervisor: Supervisor, request_reload: RequestReload):
        self.supervisor = supervisor
        self.request_reload = request_reload
        self.handlers = {"update": self.cmd_update, "add": self.cmd_add, "remove": self.cmd_remove}

    def _reload(self, client: Replier, request: protocol.Request, pick: Pick | None, extra=None):
        def done(diff: dict | None, errors: list[str]) -> None:
            if diff is None:
                first = errors[0] if errors else ""
                code = protocol.CONFIG_ERROR
                if len(errors) == 1 and "already under way" in first:
                    code = protocol.BUSY
                elif first.startswith(NO_SUCH_GROUP):
                    code = protocol.NO_SUCH_PROCESS
                client.fail(request.id, code, "\n".join(errors))
            else:
                client.reply(request.id, {**diff, **(extra or {})})

        self.request_reload(done, pick)
        return LATER

    def cmd_update(self, client: Replier, request: protocol.Request):
        """The config diff applied; only to the groups named, when some are."""
        groups = protocol.arg_names(request.args, "groups")
        if not groups or "all" in groups:
            return self._reload(client, request, None)
        return self._reload(
            client, request, lambda current, load: with_groups(current, load(), groups)
        )

    def cmd_add(self, client: Replier, request: protocol.Request):
        """Groups on disk that do not run yet, added (and their autostart programs started)."""
        names = _names(request)
        running = running_groups(self.supervisor.config)
        already = [name for name in names if name in running]
        if already:
            raise ProtocolError(
                protocol.BAD_ARGUMENT, f"already active: {', '.join(already)} (see update)"
            )
        return self._reload(
            client, request, lambda current, load: with_groups(current, load(), names),
            {"groups_added": names},
        )  # fmt: skip

    def cmd_remove(self, client: Replier, request: protocol.Request):
        """Groups taken out of the running config; each must be stopped first."""
        names = _names(request)
        running = running_groups(self.supervisor.config)
        unknown = [name for name in names if name not in running]
        if unknown:
            raise ProtocolError(protocol.NO_SUCH_PROCESS, f"{NO_SUCH_GROUP}{', '.join(unknown)}")
        busy = sorted(
            {p.program.group for p in self.supervisor.processes.values()
             if p.program.group in names and p.state not in AT_REST}
        )  # fmt: skip
        if busy:
            raise ProtocolError(
                protocol.BAD_ARGUMENT,
                f"still running: {', '.join(busy)}; stop it first (stop GROUP:*)",
            )

        def pick(current: DaemonConfig, _load) -> DaemonConfig:
            for name in names:
                current = without_group(current, name)
            return current

        return self._reload(client, request, pick, {"groups_removed": names})


def _names(request: protocol.Request) -> list[str]:
    names = protocol.arg_names(request.args)
    if not names:
        raise ProtocolError(protocol.BAD_ARGUMENT, f"{request.cmd} needs group names")
    return names
