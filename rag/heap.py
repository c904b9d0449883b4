"""glibc malloc settings for a long-running server, so memory freed after a request goes back to the system.

Under concurrent requests glibc gives threads arenas of their own and, each time a large block is freed,
raises its mmap threshold, so later blocks of that size (a reader's activations, a prompt's logits) come
from arenas that rarely shrink: a server then keeps the peak of every thread that ever ran. A fixed
threshold maps large blocks and unmaps them when freed, and a cap on arenas bounds the rest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENAS = 2  # one per core on the 2-core machines we serve from; more only hold more freed memory
MMAP_THRESHOLD = 256 * 1024  # blocks at least this large are mapped, and unmapped when freed
TRIM_THRESHOLD = 1024 * 1024  # free memory above this at the top of a heap is given back


def bound_heap(
    arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD
) -> bool:
    """Apply the settings (before the server starts its threads: arenas made earlier stay); False, with a
    log line, where the C library is not glibc and they cannot be set."""
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        logger.info("no glibc mallopt in %s: the server's freed memory is returned as its C library decides", name)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = {M_ARENA_MAX: arenas, M_MMAP_THRESHOLD: mmap_threshold, M_TRIM_THRESHOLD: trim_threshold}
    refused = [param for param, value in settings.items() if mallopt(param, value) != 1]
    if refused:
        logger.warning("mallopt refused parameters %s: memory freed under load may stay resident", refused)
        return False
    return True
