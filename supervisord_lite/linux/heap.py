"""Large blocks the daemon frees go back to the kernel at once (glibc's malloc).

glibc serves an allocation of 128 KiB or more with a mapping of its own and unmaps it
when freed; but after each such free it raises that threshold to the freed size (up to
32 MiB), so once the daemon has built one large reply (a `status` of 1000 processes is
~250 KB, in a few copies) every later one comes from the heap, whose top is seldom
trimmed: the daemon keeps the high-water mark resident. A fixed threshold (mallopt
M_MMAP_THRESHOLD) turns that adjustment off. The hot paths allocate no such blocks (a
pipe is read into one mapped buffer: logs/pipes.py), so no mapping is made per read.
"""

from __future__ import annotations

import ctypes

_M_MMAP_THRESHOLD = -3  # <malloc.h>
_THRESHOLD = 128 * 1024  # glibc's default starting value


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold; False where the C library has no mallopt (musl)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    return mallopt(_M_MMAP_THRESHOLD, _THRESHOLD) == 1
