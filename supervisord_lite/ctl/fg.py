"""`fg NAME`: a process in the foreground, as supervisorctl's `fg`. Its output (stdout
and stderr, followed) is printed, and each line typed goes to its stdin (a program
with `stdin = true`). Ctrl-C, or the end of input, leaves `fg`; the program runs on
(it is in a session of its own: the terminal's Ctrl-C never reaches it).

One connection carries it all: the two `tail -f` streams and each `stdin` request,
told apart by their request ids.
"""

from __future__ import annotations

import os
import select
import sys

from supervisord_lite.ctl.client import Connection
from supervisord_lite.ctl.replies import EXIT_FAILED, EXIT_OK, result


def cmd_fg(conn: Connection, args) -> int:
    processes = result(conn.call("status", {"names": [args.name]}), args)
    if len(processes) != 1:
        names = ", ".join(p["name"] for p in processes)
        print(f"supervisorctl-lite: ERROR: {args.name} means several processes: {names}",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    name = processes[0]["name"]
    if processes[0]["state"] != "RUNNING":
        print(f"supervisorctl-lite: ERROR: {name} is not running", file=sys.stderr)
        return EXIT_FAILED
    print("==> Press Ctrl-C to exit <==", flush=True)
    streams = {
        conn.send("tail", {"name": name, "stream": stream, "lines": 0, "follow": True}): out
        for stream, out in (("stdout", sys.stdout), ("stderr", sys.stderr))
    }
    conn.streaming = True  # quiet for hours is normal
    try:
        return _forward(conn, name, streams)
    except KeyboardInterrupt:
        print("", flush=True)
        return EXIT_OK


def _forward(conn: Connection, name: str, streams: dict) -> int:
    stdin = sys.stdin.fileno()
    reading = True
    sent: set[int] = set()  # stdin requests not answered yet
    while reading or sent:
        waiting = [conn.sock, stdin] if reading else [conn.sock]
        if conn.wakeup >= 0:
            waiting.append(conn.wakeup)
        ready = [conn.sock] if conn.lines else select.select(waiting, [], [])[0]
        if conn.woken(ready):
            continue  # a signal whose handler did not raise: wait on
        if stdin in ready:
            data = os.read(stdin, 65536)
            if data:
                text = data.decode("utf-8", "replace")
                sent.add(conn.send("stdin", {"name": name, "data": text}))
            else:
                reading = False  # end of input: leave once what was sent is answered
        if conn.sock in ready:
            reply = conn.receive()
            if reply is None:
                print("supervisorctl-lite: the daemon closed the connection", file=sys.stderr)
                return EXIT_FAILED
            out = streams.get(reply.get("id"))
            if out is not None:
                if reply.get("ok"):
                    out.write(reply["result"].get("data", ""))
                    out.flush()
                else:
                    streams.pop(reply["id"])  # no such log (redirect_stderr, "none")
                continue
            sent.discard(reply.get("id"))
            if not reply.get("ok"):
                message = reply.get("error", {}).get("message", "")
                print(f"supervisorctl-lite: ERROR: {message}", file=sys.stderr)
                return EXIT_FAILED
    return EXIT_OK
