"""Holds --mb MiB of resident memory (pages touched), in itself or, with --in-child N,
in N children of which every other one calls setsid; prints "ready" once it is all held."""

from __future__ import annotations

import argparse
import os
import signal
import sys


def hold(mb: int) -> bytearray:
    block = bytearray(mb * 1024 * 1024)
    for i in range(0, len(block), 4096):  # touch every page: resident, not just mapped
        block[i] = 1
    return block


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, required=True)
    ap.add_argument("--in-child", type=int, default=0)
    args = ap.parse_args()
    if not args.in_child:
        held = hold(args.mb)  # noqa: F841 - kept alive until the process dies
    else:
        r, w = os.pipe()
        for n in range(args.in_child):
            if os.fork() == 0:
                if n % 2:
                    os.setsid()  # left the session and group: the tree must still count it
                held = hold(args.mb // args.in_child)  # noqa: F841
                os.write(w, b".")
                signal.pause()
                os._exit(0)
        got = 0
        while got < args.in_child:
            got += len(os.read(r, 64))
    print("ready", flush=True)
    sys.stdout.flush()
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
