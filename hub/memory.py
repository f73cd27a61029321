"""Giving memory back after a burst: a process of `hub serve` that filed or sent hundreds of mails keeps the
heap it grew to, and most of it is free but not returned (the allocator keeps freed pages for later). When a
busy process falls idle it collects cycles once and asks glibc to hand its free pages back (`malloc_trim`), so
an idle hub stays small after a newsletter day or a burst of protocols. Elsewhere (musl, macOS) only the
collection runs.
"""

from __future__ import annotations

import ctypes
import gc

try:
    _malloc_trim = ctypes.CDLL(None).malloc_trim  # the C library this process runs on
except (AttributeError, OSError):
    _malloc_trim = None


def release() -> None:
    """After work, on falling idle (never per mail: a full collection costs milliseconds)."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


class Idle:
    """Remembers that a loop worked; `falling_idle()` releases memory once when the work stops."""

    def __init__(self) -> None:
        self.worked = False

    def work(self) -> None:
        self.worked = True

    def falling_idle(self) -> None:
        if self.worked:
            self.worked = False
            release()
