"""Loading a config: load_config, load_config_report and find_config_path.

`load_config` reads the main file and its includes, checks every key, and either
returns a `DaemonConfig` or raises one `ConfigError` listing every problem, one line
each: `<file>: <key path>: <message>`. It does no process work. It does check, as the daemon
would meet them, that every program log can be written (check_logs: the directory
exists and is writable, the path is not a directory, a socket or a name too long):
a program whose output would be lost is a config error, as in supervisord.
The reading and checking is loader.py's (Loader); the values it builds are
model.py's.
"""

from __future__ import annotations

import os

from supervisord_lite.base import paths
from supervisord_lite.base.paths import DEFAULT_PATHS
from supervisord_lite.config.listeners import with_server_url
from supervisord_lite.config.loader import Loader
from supervisord_lite.config.model import AlertsConfig, ConfigError, DaemonConfig, GroupConfig

# --- finding the file ---------------------------------------------------------------------


def find_config_path(explicit: str | None) -> str:
    """-c CONFIG, else $SUPERVISORD_LITE_CONFIG, else ./supervisord_lite.toml, else /etc/."""
    try:
        return paths.find_config_path(explicit, DEFAULT_PATHS)
    except paths.ConfigNotFound as exc:
        raise ConfigError([str(exc)]) from None


# --- loading ------------------------------------------------------------------------------


def load_config(path: str, *, euid: int | None = None, check_logs: bool = True) -> DaemonConfig:
    """Read and check `path` and its includes; raise ConfigError listing every problem.

    check_logs=False skips looking at the log paths on disk (for a caller that will
    not write them)."""
    config, errors = load_config_report(path, euid=euid, check_logs=check_logs)
    if errors or config is None:
        raise ConfigError(errors)
    return config


def load_config_report(
    path: str, *, euid: int | None = None, check_logs: bool = True
) -> tuple[DaemonConfig | None, list[str]]:
    """Every problem, and the config as far as it could be built: the programs without
    errors of their own (for --check --json). None when the main file cannot be read
    or parsed. Only a report: a config with errors must never be run."""
    loader = Loader(path, os.geteuid() if euid is None else euid, check_logs)
    try:
        settings = loader.load()
        if settings is None:
            return None, loader.errors
        settings["groups"] = {
            name: GroupConfig(name, members, priority)
            for name, (members, priority) in settings["groups"].items()
        }
        if settings["alerts"] is not None:
            settings["alerts"] = AlertsConfig(**settings["alerts"])
        programs = loader.programs
        server_url = getattr(settings.get("xmlrpc"), "server_url", None)
        if server_url:  # [xmlrpc] is on: listeners get SUPERVISOR_SERVER_URL
            programs = with_server_url(programs, server_url)
        config = DaemonConfig(
            path=os.path.abspath(path),
            programs=programs,
            warnings=tuple(loader.warnings),
            **settings,
        )
    except Exception as exc:  # a bug here must still read as a config problem, not a trace
        return None, [*loader.errors, f"{path}: internal error: {exc!r}"]
    return config, loader.errors
