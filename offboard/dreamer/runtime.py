"""Process-level settings that decide the learner's CPU speed.

On the VMs this project runs on, a page fault is expensive: glibc returns large freed blocks to
the kernel (``mmap``/``trim``), so every large temporary tensor (e.g. 16 MB activations of the
imagined batch) pays thousands of page faults on first touch. Measured: an elementwise multiply
of two (1024, 16, 256) float32 tensors took 35 ms with default malloc and 3.1 ms after
:func:`tune_allocator`. Keeping freed memory in the heap trades resident memory for speed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_tuned = False


def tune_allocator(threshold_bytes: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds (idempotent). Returns True if applied.

    Affects the whole process; a no-op where glibc's ``mallopt`` is unavailable.
    """
    global _tuned
    if _tuned:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        logger.debug("mallopt unavailable; allocator left as is")
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, threshold_bytes)) and bool(
        mallopt(_M_TRIM_THRESHOLD, threshold_bytes))
    _tuned = applied
    logger.debug("malloc thresholds raised to %d bytes: %s", threshold_bytes, applied)
    return applied
