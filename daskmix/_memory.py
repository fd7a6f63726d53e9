"""Give the heap that a pass freed back to the operating system.

glibc keeps freed heap memory mapped for reuse; with the many transient
arrays of different sizes a pass over hundreds of blocks allocates, the
resident size of a long fit crept up pass after pass (out of core at
10,000,000 x 64 rows, 4096 components: 1.51 GB at the first pass's peak,
2.13 GB at the fifth) although what the fit holds stays the same.
``malloc_trim(0)`` after each pass returns the free pages: between passes
the same fit then sat at 0.8-1.0 GB. Other C libraries (musl, macOS,
Windows) have no ``malloc_trim``; there :func:`release_freed_memory` does
nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys

__all__ = ["release_freed_memory"]


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory():
    """Return the process's free heap pages to the operating system, where the C library can.

    Returns
    -------
    bool
        Whether ``malloc_trim`` ran.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
