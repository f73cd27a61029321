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
    _libc = ctypes.CDLL(None)  # the C library this process runs on
except OSError:
    _libc = None
_malloc_trim = getattr(_libc, "malloc_trim", None)
_mallopt = getattr(_libc, "mallopt", None)
_M_ARENA_MAX = -8  # glibc's <malloc.h>


def one_arena() -> None:
    """From now on this process's threads share glibc's one malloc arena, as if MALLOC_ARENA_MAX=1.

    For the filing and the outbox process: glibc gives each new thread an arena of its own, whose freed
    pages `malloc_trim` hands back only in part, and these threads allocate mostly while they hold the
    interpreter lock, so one arena costs them no waiting. Idle PSS of `hub serve` after `bench/e2e.py --quick`:
    149–151 → 147–148 MiB. The listener's process keeps glibc's default: with one arena there its accept rate
    was lower (0.46–0.59 of a bare aiosmtpd in six runs, against 0.59–0.72 in four)."""
    if _mallopt is not None:
        _mallopt(_M_ARENA_MAX, 1)


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
