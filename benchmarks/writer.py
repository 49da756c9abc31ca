"""The log-throughput child: write N bytes to stdout as fast as it can, then exit.

    python writer.py TOTAL_BYTES block|line STAMP_FILE

`block` writes 64 KiB per write(2); `line` writes one 100-byte line per write(2), like a
line-buffered logger. Its start time (time.time()) goes to STAMP_FILE first, so the
manager's spawn latency is not counted as throughput.
"""

import os
import sys
import time


def main() -> None:
    total, mode, stamp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    size = 65536 if mode == "block" else 100
    line = (b"x" * (size - 1)) + b"\n"
    with open(stamp, "w") as f:
        f.write(repr(time.time()))
    write = os.write
    left = total
    view = memoryview(line)
    while left >= size:
        n = write(1, line)
        if n != size:  # a partial write to a pipe: finish it
            done = n
            while done < size:
                done += write(1, view[done:])
        left -= size
    if left:
        write(1, line[:left])


if __name__ == "__main__":
    main()
