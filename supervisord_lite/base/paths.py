"""Where the config file is, whether root may trust it, the daemon socket's default
name, and the log paths that mean the daemon's own stdout and stderr.

Shared by config/load.py and the ctl, which must find its socket without paying for the
config module: this imports nothing but os (and stat, which os has loaded already).
"""

from __future__ import annotations

import os
import stat

ENV_VAR = "SUPERVISORD_LITE_CONFIG"
DEFAULT_PATHS = ("supervisord_lite.toml", "/etc/supervisord_lite.toml")
DEFAULT_SOCKET = "supervisord_lite.sock"  # [supervisord] socket, relative to the config

# These names mean the daemon's own descriptors, not whatever /dev/stdout resolves to
# when opened (a socket under systemd cannot be opened at all). A detached daemon's
# stdio is /dev/null, so there they discard.
OWN_STREAMS = {
    "/dev/stdout": 1,
    "/dev/fd/1": 1,
    "/proc/self/fd/1": 1,
    "/dev/stderr": 2,
    "/dev/fd/2": 2,
    "/proc/self/fd/2": 2,
}


class ConfigNotFound(Exception):
    """No config file at the given path, or at any default place (config/load.py wraps this
    in ConfigError; the message is the one line shown to the user)."""


class ConfigUntrusted(ConfigNotFound):
    """A config found in a default place that another user could have written: root
    refuses it (see untrusted_reason)."""


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
            _refuse_if_untrusted(candidate)
            return candidate
        tried.append(candidate if os.path.isabs(candidate) else f"./{candidate}")
    raise ConfigNotFound(f"no config file found (tried {', '.join(tried)}); pass -c CONFIG")


def _refuse_if_untrusted(candidate: str) -> None:
    """A file picked up without being named (the current directory's, /etc's) is refused
    to root when another user could have written it: root would run whatever it says,
    so anyone who can write ./supervisord_lite.toml in a directory where root happens to
    type `supervisord-lite` gets a root shell. A file named with -c or the environment
    is the user's explicit choice: the loader only warns about it (config/loader.py)."""
    reason = untrusted_reason(candidate)
    if reason is None:
        return
    shown = candidate if os.path.isabs(candidate) else f"./{candidate}"
    raise ConfigUntrusted(
        f"{shown}: refusing to use this config, found without -c: {reason}, so another "
        f"user could make root run anything. Make it root's (chown root {shown}; "
        f"chmod go-w {shown} and its directory), or pass -c with the config you mean"
    )


def untrusted_reason(path: str, euid: int | None = None) -> str | None:
    """Why a user other than root could change what root reads at `path`, or None: as
    sshd's StrictModes, the file and every directory above it (by the path as given and
    as resolved through symlinks) must be owned by root and not writable by group or
    others. A directory writable by others is allowed only with the sticky bit (/tmp):
    there no one can rename or replace an entry root owns. Only root is at risk: for any
    other euid this returns None (whoever runs the daemon can already act as that user)."""
    if (os.geteuid() if euid is None else euid) != 0:
        return None
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except (OSError, ValueError):
        return None  # reading it will say what is wrong
    problem = _owner_or_mode_problem(real, st, is_dir=False)
    if problem:
        return problem
    seen = set()
    for start in (os.path.abspath(path), real):
        directory = os.path.dirname(start)
        while directory not in seen:
            seen.add(directory)
            try:
                st = os.lstat(directory)
            except OSError:
                break
            # A symlink's own bits mean nothing; who may replace it is its directory's.
            if not stat.S_ISLNK(st.st_mode):
                problem = _owner_or_mode_problem(directory, st, is_dir=True)
                if problem:
                    return problem
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    return None


def _owner_or_mode_problem(path: str, st: os.stat_result, is_dir: bool) -> str | None:
    what = "its directory " if is_dir else ""
    if st.st_uid != 0:
        return f"{what}{path} is owned by {_user(st.st_uid)}, not root"
    if st.st_mode & 0o022 and not (is_dir and st.st_mode & stat.S_ISVTX):
        who = "others" if st.st_mode & 0o002 else "its group"
        return f"{what}{path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _user(uid: int) -> str:
    import pwd  # only to word a refusal

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
