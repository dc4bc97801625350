"""Keep freed memory inside the process, so large CPU tensors are not page-faulted in on every step.

glibc serves large allocations with fresh ``mmap`` calls and trims its heap when memory at the top
is free; a training step that allocates and frees many large tensors then has the kernel zero and
map every page again on each step. The cost of keeping it: the process holds its peak memory until it exits.
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
    """Make glibc keep freed memory for reuse, process-wide and until exit; True when in force, False where
    it does not apply (not Linux, or not glibc, e.g. musl or macOS)."""
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
