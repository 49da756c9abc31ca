"""linux/heap.py: glibc's mmap threshold is fixed, so a big reply's blocks are unmapped
when freed rather than kept in the heap."""

from __future__ import annotations

import platform

import pytest

from supervisord_lite.linux.heap import return_large_blocks


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_glibc_takes_the_fixed_threshold():
    assert return_large_blocks() is True
