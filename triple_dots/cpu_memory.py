"""Keep freed memory inside the process, so large CPU tensors are not page-faulted in on every step.

glibc's ``malloc`` serves allocations above a threshold (at most 32 MiB) with fresh ``mmap`` calls and
returns them to the kernel on ``free``; below it, it trims the heap whenever enough memory is free at
its top. A training step at 512 px allocates and frees many such tensors (a batch of 32-channel
512x512 fp32 maps is 128 MiB), and the kernel then zeroes and maps every page again on each
step: on a 2-core CPU the refine step spent about as much time in the kernel as in PyTorch.
:func:`keep_freed_memory` tells glibc to serve every allocation from its heap and never give freed
memory back, so it is reused. The cost: the process keeps its peak memory until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``mallopt`` parameters (glibc's <malloc.h>)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

_applied = False


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse (no ``mmap`` per large tensor, no heap trimming).

    Process-wide and permanent (until the process exits); calling it again does nothing. Returns True
    when the setting is in force, False where it does not apply (not Linux, or a C library without
    glibc's ``mallopt``, e.g. musl or macOS): nothing is changed then.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        version = libc.gnu_get_libc_version  # glibc only: musl's mallopt is a no-op stub
    except (OSError, AttributeError):
        return False
    version.restype = ctypes.c_char_p
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # M_MMAP_MAX 0: never use mmap for large blocks; M_TRIM_THRESHOLD -1: never trim the heap
    _applied = bool(version()) and mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, -1) == 1
    return _applied
