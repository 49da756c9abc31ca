"""The [supervisord] table of a conversion: Supervisor's [supervisord] and its
[unix_http_server] socket, with a warning for each key that has no equal here, and
for the sections convert does not carry over at all.
"""

from __future__ import annotations

import os
from typing import Any

from supervisord_lite.convert import supervisor_ini as ini
from supervisord_lite.convert.conversion import Conversion
from supervisord_lite.convert.toml_writer import Octal


def warn_sections(c: Conversion) -> None:
    known_servers = ("unix_http_server", "inet_http_server", "supervisorctl")
    for section, info in c.sections.items():
        kind = section.split(":", 1)[0]
        keys = list(info["options"])
        if kind == "inet_http_server":
            for key in keys:
                c.warn(
                    section,
                    key,
                    "not converted: there is no HTTP/XML-RPC server yet ([http] is a "
                    "later feature); supervisorctl-lite talks over the Unix socket",
                    "supervisord",
                )
        elif kind == "supervisorctl":
            c.warn(
                section,
                None,
                f"not converted ({', '.join(keys) or 'empty'}): supervisorctl-lite "
                "finds the socket in this file's [supervisord] socket",
                "supervisord",
            )
        elif kind == "rpcinterface":
            c.warn(
                section,
                None,
                "not converted: there is no XML-RPC interface; the control protocol "
                "is JSON lines over the Unix socket",
                "supervisord",
            )
        elif kind in ("include", "supervisord", "group", "unix_http_server", *known_servers):
            continue
        elif kind in ini.PROGRAM_KINDS and ":" in section:
            continue
        else:
            c.warn(section, None, "supervisord ignores this section; so does convert")


def supervisord_table(c: Conversion) -> dict[str, Any]:
    section = "supervisord"
    sup = c.parsed["supervisord"]
    out: dict[str, Any] = {}
    unknown = set(c.sections[section]["options"]) - set(ini.SUPERVISORD_OPTIONS)
    for key in sorted(unknown):
        c.warn(section, key, "supervisord ignores this key; so does convert", "supervisord")
    if c.given(section, "logfile"):
        if sup["logfile"].lower() == "syslog":
            c.warn(
                section,
                "logfile",
                "syslog is not supported: the daemon log goes to a file "
                "(or run it with -n under systemd)",
                "supervisord",
            )
        else:
            out["logfile"] = sup["logfile"]
            c.warn_relative(section, "logfile", sup["logfile"], "supervisord")
    if c.given(section, "pidfile"):
        out["pidfile"] = sup["pidfile"]
        c.warn_relative(section, "pidfile", sup["pidfile"], "supervisord")
    if c.given(section, "loglevel"):
        out["loglevel"] = loglevel(c, sup["loglevel"])
    if sup["umask"] != 0o022:
        out["umask"] = Octal(sup["umask"])
    if sup["childlogdir"] is not None:
        out["log_dir"] = sup["childlogdir"]
        c.warn_relative(section, "childlogdir", sup["childlogdir"], "supervisord")
    if any_auto_log(c):
        c.warn(
            section,
            "childlogdir" if c.given(section, "childlogdir") else None,
            "AUTO program logs are written to log_dir as NAME.stdout.log / "
            "NAME.stderr.log and kept across restarts (Supervisor: temporary files "
            "in childlogdir, removed at its start)",
            "supervisord",
        )
    if sup["environment"]:
        out["environment"] = dict(sup["environment"])
    supervisord_warnings(c)
    socket = socket_keys(c)
    if socket:
        out = {**socket, **out}
    return out


def loglevel(c: Conversion, level: str) -> str:
    mapped = {"critical": "error", "warn": "warning", "trace": "debug", "blather": "debug"}
    if level in mapped:
        c.warn(
            "supervisord",
            "loglevel",
            f"{level} becomes {mapped[level]} (levels here: debug, info, warning, error)",
            "supervisord",
        )
    return mapped.get(level, level)


def supervisord_warnings(c: Conversion) -> None:
    why = {
        "nodaemon": "not a config key here: run `supervisord-lite -n` to stay in the foreground",
        "silent": "not supported: with -n the daemon log also goes to stderr",
        "minfds": "not applied: raise the open-file limit where the daemon starts "
        "(systemd LimitNOFILE=, ulimit -n)",
        "minprocs": "not applied: raise the process limit where the daemon starts "
        "(systemd LimitNPROC=, ulimit -u)",
        "nocleanup": "not needed: AUTO logs are never removed at start here",
        "strip_ansi": "not supported: output is logged byte for byte",
        "identifier": "not used: there is no XML-RPC interface",
        "user": "not a config key here: start the daemon as that user (systemd User=, su, gosu)",
        "directory": "not a config key here: the daemon runs in /; relative paths "
        "resolve against the config file's directory",
        "logfile_maxbytes": "not supported: the daemon log is not rotated by size; "
        "use logrotate and SIGUSR2 (reopen)",
        "logfile_backups": "not supported: the daemon log is not rotated by size; "
        "use logrotate and SIGUSR2 (reopen)",
    }
    if c.parsed["supervisord"]["logfile_maxbytes"] == 0:  # never rotated: as here
        why.pop("logfile_maxbytes")
        why.pop("logfile_backups")  # nothing to keep without a rotation
    for key, message in why.items():
        if c.given("supervisord", key):
            c.warn("supervisord", key, message, "supervisord")


def socket_keys(c: Conversion) -> dict[str, Any]:
    sections = [s for s in c.sections if s.split(":", 1)[0] == "unix_http_server"]
    out: dict[str, Any] = {}
    for section in sections:
        options = c.sections[section]["options"]
        if "file" in options and not out:
            path = options["file"]["value"].replace("%(here)s", c.here).strip()
            out["socket"] = os.path.expanduser(path)
            c.warn_relative(section, "file", out["socket"], "supervisord")
            if "chmod" in options:
                out["socket_mode"] = Octal(ini.octal(options["chmod"]["value"]))
        elif "file" in options:
            c.warn(section, "file", "only one control socket here: not converted", "supervisord")
        for key in options:
            if key in ("username", "password"):
                c.warn(
                    section,
                    key,
                    "not converted: the socket is guarded by the peer's uid "
                    "(SO_PEERCRED: root, the daemon's uid and allowed_uids), not a password",
                    "supervisord",
                )
            elif key == "chown":
                c.warn(
                    section,
                    key,
                    "not converted: to let other users in, list their uids in "
                    "allowed_uids and open socket_mode",
                    "supervisord",
                )
            elif key not in ("file", "chmod"):
                c.warn(section, key, "supervisord ignores this key; so does convert", "supervisord")
    return out


def any_auto_log(c: Conversion) -> bool:
    for program in c.parsed["programs"]:
        if program["kind"] == "eventlistener":
            continue
        for process in program["processes"]:
            if ini.AUTO in (process["stdout_logfile"], process["stderr_logfile"]):
                return True
    return False
