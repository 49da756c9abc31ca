"""Starting a test daemon with an [xmlrpc] table, and the clients no one here wrote:
Supervisor's own supervisorctl and xmlrpc.client through Supervisor's transport."""

from __future__ import annotations

import subprocess
import sys
import xmlrpc.client
from pathlib import Path
from typing import Any

from integration.harness import free_port

SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")


def start_xmlrpc(
    daemon,
    programs: dict,
    listen: str | None = None,
    extra: str = "",
    groups: dict | None = None,
    supervisord: dict | None = None,
) -> str:
    """Start `daemon` with `programs` and [xmlrpc] (a Unix socket in its directory by
    default); return the server URL supervisorctl -s takes."""
    daemon.write_config(programs, supervisord, groups)
    if listen is None:
        listen = f"unix://{daemon.dir / 'xr.sock'}"
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[xmlrpc]\nlisten = "{listen}"\n{extra}\n')
    daemon.start()
    return listen if listen.startswith("unix://") else f"http://{listen}"


def tcp_listen() -> str:
    return f"127.0.0.1:{free_port()}"


def supervisorctl(
    url: str,
    *args: Any,
    user: str | None = None,
    password: str | None = None,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess:
    cmd = [SUPERVISORCTL, "-s", url]
    if user is not None:
        cmd += ["-u", user, "-p", password or ""]
    cmd += [str(a) for a in args]
    return subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


def proxy(url: str, user: str | None = None, password: str | None = None):
    """An xmlrpc.client.ServerProxy through supervisor's own transport (Unix or TCP)."""
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(user, password, url)
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def describe(res: subprocess.CompletedProcess) -> str:
    return (
        f"{' '.join(res.args)} -> rc={res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    )
