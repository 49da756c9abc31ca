"""`[sockets.NAME]` for `export systemd`: each held socket a program names becomes a
`supervisord-lite-NAME.socket` unit, passed to its services with `Sockets=`, so that
systemd holds the socket as the daemon did and hands it over the same way
(`LISTEN_FDS`, `LISTEN_FDNAMES` from `FileDescriptorName=`). `stdin_socket` becomes
`StandardInput=socket`; `reload_signal` an `ExecReload=` sending it.

What systemd cannot hold is a warning: the rolling restart itself (`restart --rolling`
has no systemd counterpart: `systemctl restart` stops, then starts; the socket stays
open across it, so connections wait instead of being refused).
"""

from __future__ import annotations

from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.config.sockets import SocketConfig, used_sockets
from supervisord_lite.config.values import signal_name
from supervisord_lite.systemd.export_files import MARKER
from supervisord_lite.systemd.export_keys import PREFIX, Unit, unit_name
from supervisord_lite.systemd.syntax import comment, specifiers, unit_escape, verbatim, visible


def socket_unit_name(name: str) -> str:
    return f"{PREFIX}{unit_escape(name)}.socket"


def socket_units(config: DaemonConfig, target: str) -> dict[str, str]:
    """file name -> text of every socket unit a program names."""
    users: dict[str, list[str]] = {}
    for program in config.programs.values():
        for sock in (*program.sockets, program.stdin_socket):
            if sock is not None:
                users.setdefault(sock.name, []).append(unit_name(program.processes[0]))
    return {
        socket_unit_name(name): _socket_text(sock, users[name][0], target, config.path)
        for name, sock in used_sockets(config.programs.values()).items()
    }


def _socket_text(sock: SocketConfig, service: str, target: str, source: str) -> str:
    if sock.family == "unix":
        listen = verbatim(sock.path)
    elif ":" in sock.host:
        listen = f"[{sock.host}]:{sock.port}"
    else:
        listen = f"{sock.host}:{sock.port}"
    lines = [
        MARKER,
        comment(f"from {source}, [sockets.{sock.name}]"),
        "",
        "[Unit]",
        f"Description={specifiers(visible(f'{sock.name} (supervisord-lite socket)'))}",
        f"PartOf={target}",
        "",
        "[Socket]",
        f"ListenStream={listen}",
        f"FileDescriptorName={sock.name}",
        f"Backlog={sock.backlog}",
    ]
    if sock.family == "tcp" and ":" in sock.host:
        lines.append("BindIPv6Only=ipv6-only")
    if sock.family == "unix":
        lines.append(f"SocketMode=0{sock.mode:o}")
        if sock.owner is not None:
            user, _, group = sock.owner.partition(":")
            lines.append(f"SocketUser={verbatim(user)}")
            if group:
                lines.append(f"SocketGroup={verbatim(group)}")
    # A connection before the service runs starts it (as systemd's socket activation
    # does; the daemon instead starts programs on its own and queues meanwhile).
    lines += [f"Service={service}", "", "[Install]", f"WantedBy={target}"]
    return "\n".join(lines) + "\n"


def sockets_of(program: ProgramConfig, unit: Unit) -> None:
    """A service's held sockets, stdin socket and reload signal."""
    names = [socket_unit_name(s.name) for s in program.sockets]
    stdin = program.stdin_socket
    if stdin is not None and not program.sockets:
        names.append(socket_unit_name(stdin.name))
        unit.set("Service", "StandardInput", "socket")
    elif stdin is not None:  # systemd.exec(5): StandardInput=socket takes a single socket
        unit.note("stdin_socket", "not carried over: systemd puts a socket on stdin only "
                  "when the service is passed that one socket alone")  # fmt: skip
    if names:
        unit.set("Unit", "Requires", " ".join(names))
        unit.set("Unit", "After", " ".join(names))
        unit.set("Service", "Sockets", " ".join(names))
    if program.reload_signal is not None:
        signame = signal_name(program.reload_signal)
        unit.set("Service", "ExecReload", f"/bin/kill -s {signame} $MAINPID")
        unit.note("reload_signal", f"systemctl reload sends SIG{signame}; restart --rolling "
                  "has no systemd counterpart")  # fmt: skip
    elif names and program.numprocs == 1:
        unit.note("sockets", "restart --rolling (surge) has no systemd counterpart: "
                  "systemctl restart stops, then starts; the socket stays open, so "
                  "connections wait meanwhile")  # fmt: skip
