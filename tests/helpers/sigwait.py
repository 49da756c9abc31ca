"""Prints `ready`, then logs every signal it receives (`got SIGHUP`) and keeps running.

Exits (with --exit-code) on the signals listed in --exit-on, after --stop-delay seconds.
With --mark FILE it appends `start`, `stop-begin` and `stop-end` events to FILE.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mark import mark  # noqa: E402

LOGGED = ("HUP", "INT", "QUIT", "USR1", "USR2", "TERM", "ALRM", "WINCH", "CONT", "TSTP")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exit-on", default="TERM,INT")
    ap.add_argument("--exit-code", type=int, default=0)
    ap.add_argument("--stop-delay", type=float, default=0.0)
    ap.add_argument("--mark", default=None)
    ap.add_argument("--name", default="sigwait")
    args = ap.parse_args()
    exit_on = {s.strip().upper().removeprefix("SIG") for s in args.exit_on.split(",") if s}

    def on_signal(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        print(f"got {name}", flush=True)
        if name[3:] in exit_on:
            mark(args.mark, "stop-begin", args.name)
            if args.stop_delay:
                time.sleep(args.stop_delay)
            mark(args.mark, "stop-end", args.name)
            os._exit(args.exit_code)

    for short in LOGGED:
        signal.signal(getattr(signal, "SIG" + short), on_signal)
    mark(args.mark, "start", args.name)
    print("ready", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
