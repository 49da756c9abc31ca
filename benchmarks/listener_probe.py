"""The event listener the `listeners` workload runs under both managers: written with
supervisor.childutils, as users write them. Appends `EVENTNAME PID MONOTONIC` per event
to the file named by argv[1] (CLOCK_MONOTONIC is one clock for every process here)."""

import sys
import time

from supervisor import childutils


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
