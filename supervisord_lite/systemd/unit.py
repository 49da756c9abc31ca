"""The systemd unit for this install: `supervisord-lite --print-unit`.

The text below is configs/supervisord-lite.service with two holes, the daemon's path
and the config path; a test keeps the two identical modulo those paths.
"""

from __future__ import annotations

import os
import sys

DEFAULT_CONFIG = "/etc/supervisord_lite.toml"
SCRIPT_NAME = "supervisord-lite"

TEMPLATE = """\
# supervisord-lite as a systemd service.
# Install: supervisord-lite --print-unit | sudo tee /etc/systemd/system/supervisord-lite.service
#          sudo systemctl daemon-reload && sudo systemctl enable --now supervisord-lite
# Every option below is explained; see docs/deploy.md.

[Unit]
Description=supervisord-lite process manager
# Supervised programs commonly bind addresses, resolve names and use remote mounts.
Wants=network-online.target
After=network-online.target remote-fs.target nss-lookup.target

[Service]
# -n keeps the daemon in the foreground as the main process; it sends READY=1 once its
# socket listens, its pidfile is written and autostart programs are spawned, and
# STOPPING=1 / STATUS= / WATCHDOG=1 as it runs (sd_notify(3)).
Type=notify
ExecStart={exec_start} -n -c {config}
# SIGHUP re-reads the config (same as supervisorctl-lite reload).
ExecReload=/bin/kill -HUP $MAINPID
# Children inherit NOTIFY_SOCKET; only the daemon itself may speak for the service, so a
# supervised program that calls sd_notify cannot mark it ready or stopping.
NotifyAccess=main

# KillMode=mixed: SIGTERM goes to the daemon only, which stops its programs itself, in
# reverse dependency order, each with its own stopsignal and stopwaitsecs. Then SIGKILL
# goes to whatever is left in the cgroup: strays once the daemon has exited, or
# everything if it has not exited by TimeoutStopSec. (control-group would SIGTERM every
# program at once, in no order; process or none would leave strays behind.)
KillMode=mixed
# Shutdown stops programs layer by layer (dependents first), each layer waiting up to
# its stopwaitsecs (default 10 s): leave room for several layers. Raise it with
# `systemctl edit` if your stopwaitsecs or dependency chains are longer.
TimeoutStopSec=300

# The daemon itself is restarted when it crashes (its programs, killed with its cgroup,
# are then started afresh); a clean `systemctl stop` or `supervisorctl-lite shutdown`
# (exit 0) is left alone.
Restart=on-failure
RestartSec=2
# Exit 2 is a config error: retrying cannot fix it (see `supervisord-lite --check`).
RestartPreventExitStatus=2

# The service's cgroup is handed to the daemon: it moves itself into a leaf and runs
# each program in a cgroup of its own, so that stopping a program kills all of its tree
# (double-forked, setsid'd descendants too) and its CPU, memory and tasks can be read
# (docs/limits.md). systemd then leaves the cgroups below this one alone.
Delegate=yes

# A program killed by the kernel's OOM killer is the daemon's business (it restarts the
# program per autorestart); systemd's default OOMPolicy=stop would stop the whole
# service, every other program included.
OOMPolicy=continue

# Opt in to the watchdog: systemd restarts the daemon if its loop stops answering for
# this long. Off by default because the restart kills every supervised program.
#WatchdogSec=60

# Hardening, or why there is almost none: every sandboxing option applies to the whole
# cgroup, so all supervised programs inherit it, and they may need almost anything:
# their own users, setuid helpers (ping, sudo), /home, a /tmp shared with other
# services, devices, JITs, the clock (chrony), sysctls, kernel modules, namespaces
# (containers). So ProtectSystem=, ProtectHome=, PrivateTmp=, PrivateDevices=,
# NoNewPrivileges=, PrivateUsers=, ProtectClock=, ProtectKernel*=, ProtectHostname=,
# RestrictRealtime=, MemoryDenyWriteExecute=, RestrictNamespaces= and SystemCallFilter=
# are deliberately not set; add the ones your programs allow in a drop-in
# (`systemctl edit supervisord-lite`). The safety this unit does set is above:
# NotifyAccess=main, KillMode=mixed, OOMPolicy=continue. The control socket is 0600 and
# checked with SO_PEERCRED, so the daemon is not reachable by other users anyway.

[Install]
WantedBy=multi-user.target
"""


def _quote(arg: str) -> str:
    """One argument as systemd.service(5) reads it: specifiers and variables escaped."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c.isspace() or c in "\"'\\;" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def daemon_command() -> list[str]:
    """The absolute command that runs this install's daemon."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == SCRIPT_NAME and os.path.isfile(argv0):
        return [os.path.abspath(argv0)]  # run as the console script: that one, wherever
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), SCRIPT_NAME)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return [beside]  # the venv's (or the system's) bin directory
    return [os.path.abspath(sys.executable), "-m", "supervisord_lite"]


def config_path(arg: str | None) -> str:
    """The -c argument made absolute (it need not exist yet), else the system default."""
    return os.path.abspath(arg) if arg else DEFAULT_CONFIG


def render(config: str, command: list[str] | None = None) -> str:
    """The unit text for `config` (absolute) run by `command` (default: this install)."""
    exec_start = " ".join(_quote(a) for a in (command or daemon_command()))
    return TEMPLATE.format(exec_start=exec_start, config=_quote(config))
