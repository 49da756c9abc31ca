"""Which local user is at the other end of a loopback TCP connection.

The control socket admits only root, the daemon's own uid and `allowed_uids`
(SO_PEERCRED). A TCP socket has no SO_PEERCRED, but on loopback both ends are sockets
of this host, and the kernel lists each with its owner's uid in /proc/net/tcp and
/proc/net/tcp6 (proc(5)), as identd reads it. So `[http]` without users or token holds
to the same rule as the socket instead of opening the daemon to every local user.
"""

from __future__ import annotations

import socket
import sys


def _hex_address(address: str, family: int) -> str:
    """The address as /proc/net/tcp* prints it: each 32-bit word in host byte order."""
    packed = socket.inet_pton(family, address)
    words = [packed[i : i + 4] for i in range(0, len(packed), 4)]
    return "".join(f"{int.from_bytes(w, sys.byteorder):08X}" for w in words)


def loopback_peer_uid(conn: socket.socket) -> int | None:
    """The uid owning the client end of `conn`, an accepted loopback connection; None
    when it cannot be found (the client closed already, or /proc is not there)."""
    family = conn.family
    try:
        ours, theirs = conn.getsockname(), conn.getpeername()
    except OSError:
        return None
    # The client's socket: its local end is our peer, its remote end is us.
    want_local = f"{_hex_address(theirs[0], family)}:{theirs[1]:04X}"
    want_remote = f"{_hex_address(ours[0], family)}:{ours[1]:04X}"
    table = "/proc/net/tcp6" if family == socket.AF_INET6 else "/proc/net/tcp"
    try:
        with open(table, "rb") as fh:
            next(fh)  # the header line
            for line in fh:
                fields = line.split()
                if fields[1].decode() == want_local and fields[2].decode() == want_remote:
                    return int(fields[7])
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return None
