"""Where the config file is, and the daemon socket's default name.

Shared by config.py and the ctl, which must find its socket without paying for the
config module: this imports nothing but os.
"""

from __future__ import annotations

import os

ENV_VAR = "SUPERVISORD_LITE_CONFIG"
DEFAULT_PATHS = ("supervisord_lite.toml", "/etc/supervisord_lite.toml")
DEFAULT_SOCKET = "supervisord_lite.sock"  # [supervisord] socket, relative to the config


class ConfigNotFound(Exception):
    """No config file at the given path, or at any default place (config.py wraps this
    in ConfigError; the message is the one line shown to the user)."""


def find_config_path(explicit: str | None, default_paths: tuple[str, ...] | None = None) -> str:
    """-c CONFIG, else $SUPERVISORD_LITE_CONFIG, else ./supervisord_lite.toml, else /etc/."""
    if explicit is not None:
        if os.path.exists(explicit):
            return explicit
        raise ConfigNotFound(f"{explicit}: no such config file")
    tried = []
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        if os.path.exists(from_env):
            return from_env
        tried.append(f"${ENV_VAR}={from_env}")
    for candidate in DEFAULT_PATHS if default_paths is None else default_paths:
        if os.path.isfile(candidate):
            return candidate
        tried.append(candidate if os.path.isabs(candidate) else f"./{candidate}")
    raise ConfigNotFound(f"no config file found (tried {', '.join(tried)}); pass -c CONFIG")
