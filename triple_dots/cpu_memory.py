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
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

_applied = False


def keep_freed_memory(mmap_above: int | None = None) -> bool:
    """Make glibc keep freed memory for reuse, process-wide and until exit; True when in force, False where
    it does not apply (not Linux, or not glibc, e.g. musl or macOS). ``mmap_above``: blocks over this many
    bytes still get (and give back) their own mapping; None: no block does. The first call's setting holds."""
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
    # M_MMAP_MAX 0: never use mmap for large blocks (or only above M_MMAP_THRESHOLD); M_TRIM_THRESHOLD -1: never trim
    mmap_set = mallopt(M_MMAP_MAX, 0) if mmap_above is None else mallopt(M_MMAP_THRESHOLD, int(mmap_above))
    _applied = bool(version()) and mmap_set == 1 and mallopt(M_TRIM_THRESHOLD, -1) == 1
    return _applied
