"""Speaks sd_notify(3) through $NOTIFY_SOCKET exactly as libsystemd's sd_pid_notify does:
one datagram per message, sent with sendmsg and an explicit SCM_CREDENTIALS (pid, uid,
gid) control message. Prints what it sends; then sleeps until signalled.

  --ready-after S       send READY=1 after S seconds (default 0; negative: never)
  --status TEXT         send STATUS=TEXT before READY=1
  --watchdog-every S    send WATCHDOG=1 every S seconds ...
  --watchdog-for S      ... for S seconds only (then go quiet, as a hung service)
  --exit-after-ready    exit 0 right after READY=1
  --garbage             first send an oversized and a malformed datagram
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import time


def address() -> str:
    path = os.environ["NOTIFY_SOCKET"]
    return "\0" + path[1:] if path.startswith("@") else path


def send(text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    creds = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)], 0, address())
    print(f"sent {data[:60]!r}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready-after", type=float, default=0.0)
    ap.add_argument("--status", default=None)
    ap.add_argument("--watchdog-every", type=float, default=0.0)
    ap.add_argument("--watchdog-for", type=float, default=1e9)
    ap.add_argument("--exit-after-ready", action="store_true")
    ap.add_argument("--garbage", action="store_true")
    args = ap.parse_args()
    usec, wpid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    print(f"pid {os.getpid()} WATCHDOG_USEC={usec} WATCHDOG_PID={wpid}", flush=True)
    if args.garbage:
        send(b"READY=1\n" + b"x" * 5000)
        send(b"READY\n")
        send(b"READY=1\xff\n")
    if args.ready_after >= 0:
        time.sleep(args.ready_after)
        if args.status:
            send(f"STATUS={args.status}")
        send("READY=1")
        if args.exit_after_ready:
            sys.exit(0)
    started = time.monotonic()
    while True:
        if args.watchdog_every > 0 and time.monotonic() - started < args.watchdog_for:
            send("WATCHDOG=1")
            time.sleep(args.watchdog_every)
        else:
            time.sleep(3600)


if __name__ == "__main__":
    main()
