"""Giving freed heap back to the operating system between passes."""

import numpy as np
import psutil

from daskmix._memory import release_freed_memory


def test_freed_heap_goes_back_to_the_system():
    """On glibc (Linux, where CI runs): the pages freed between live blocks are returned."""
    process = psutil.Process()
    # 200 MB of small arrays (heap, not mmap), one in fifty kept: the freed
    # pages lie between live blocks, where glibc keeps them without a trim
    blocks = [np.ones(2000, dtype=np.uint8) for _ in range(100_000)]
    kept = blocks[::50]
    del blocks
    before = process.memory_info().rss
    assert release_freed_memory()
    after = process.memory_info().rss
    assert before - after > 100e6
    assert all(int(block.sum()) == 2000 for block in kept)  # live data untouched
