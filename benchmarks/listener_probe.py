"""The event listener the `listeners` workload runs under both managers: written with
supervisor.childutils, as users write them. Appends `EVENTNAME PID MONOTONIC` per event
to the file named by argv[1] (CLOCK_MONOTONIC is one clock for every process here)."""

import os
import sys
import time

# Run as a script, this folder comes first on sys.path, where the `xmlrpc` workload
# (benchmarks/xmlrpc.py) would shadow the standard library's xmlrpc that childutils
# imports: the folder goes before anything is imported.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]

from supervisor import childutils  # noqa: E402 - after the path is set


def main() -> None:
    out = open(sys.argv[1], "a", buffering=1)
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        got = time.monotonic()
        fields = dict(token.split(":", 1) for token in payload.split() if ":" in token)
        out.write(f"{headers['eventname']} {fields.get('pid', 0)} {got}\n")
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
