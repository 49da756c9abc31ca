"""What a reload moves to, checked before anything running is touched: the config on
disk read whole (or, with `pick`, some groups' change only), quotas the host can keep,
and new held sockets bound. Any problem rejects the reload with every error, and the
old config keeps running."""

from __future__ import annotations

from supervisord_lite.base.log import log
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError, DaemonConfig
from supervisord_lite.daemon.quotas import check_reload_quotas, uses_quotas
from supervisord_lite.engine.group_changes import GroupChangeError
from supervisord_lite.linux.held_sockets import BindError, SocketRegistry


def config_to_reload(
    running: DaemonConfig, pick, cgroups, held_sockets: SocketRegistry
) -> tuple[DaemonConfig | None, list[str]]:
    """(the config to move to, []) or (None, the errors that reject the reload)."""
    try:
        if pick is None:
            new = load_config(running.path)
        else:
            new = pick(running, lambda: load_config(running.path))
        if uses_quotas(new):
            check_reload_quotas(new, cgroups)
    except ConfigError as exc:
        log.error("reload rejected; still running the old config:\n%s", exc)
        return None, exc.errors
    except GroupChangeError as exc:
        log.error("group change refused: %s", exc)
        return None, [str(exc)]
    try:  # new [sockets.*] bound before anything changes; removed ones let go
        held_sockets.apply(new.programs.values())
    except BindError as exc:
        log.error("reload rejected; still running the old config:\n%s", exc)
        return None, exc.errors
    return new, []
