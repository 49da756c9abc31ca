"""sd_notify(3): tell systemd (or any NOTIFY_SOCKET listener) how the daemon is doing."""

from __future__ import annotations

import os
import socket
import time


def notify_socket_path() -> str | None:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return None
    if path.startswith("@"):
        return "\0" + path[1:]  # abstract namespace
    return path


def sd_notify(*lines: str) -> bool:
    """Send `KEY=value` lines as one datagram; False when there is nobody to tell."""
    path = notify_socket_path()
    if path is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(lines).encode(), path)
    except OSError:
        return False
    return True


def monotonic_usec() -> str:
    """MONOTONIC_USEC= as systemd wants with RELOADING=1 (CLOCK_MONOTONIC, microseconds)."""
    return f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
