"""A child process that must not outlive its parent: the sandbox's document reader, a filing helper."""

from __future__ import annotations

import ctypes
import os
import signal


def die_with_parent(parent: int) -> None:
    """Linux sends this process SIGKILL when its parent (pid `parent`) ends, also while it is busy (the reader
    with a document, a filing helper with a batch)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the end of stdin still stops an idle reader
    if os.getppid() != parent:  # the parent ended before prctl
        os._exit(0)
