"""Helpers of the filing process during a burst: when many messages wait, the filing process forks a helper
that files beside it from the same queue, on the machine's other core; a helper that finds nothing to do for
`IDLE_SECONDS` ends, and its memory goes with it (`[inbound] filing_processes` counts the filing process and
its helpers).

Why helpers that come and go, not a second filing process from the start: each process of `hub serve` makes
about 22 MiB of its own after it starts (its caches, its database connection), paid all day for a burst
that lasts seconds. A helper is forked from the filing process while it is warm, so it starts at once and
shares what that one already read (bench/inbound.py: filed 127 → 174 messages/s on two cores).

Forked with os.fork, not multiprocessing: the filing process is a daemonic multiprocessing child, which may
not start children of its own. The filing process closes its database connections first, so that the helper
inherits none. A helper dies with the filing process (PR_SET_PDEATHSIG): what it held stays
in the spool and is filed again, as after any crash.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

from hub.db import close_connections
from hub.parent_death import die_with_parent

log = logging.getLogger("hub.supervisor")

HELP_AT = 20  # messages waiting when the filing process takes a batch: a helper starts
IDLE_SECONDS = 3.0  # a helper that has found nothing to do for this long ends
STOP_SECONDS = 60.0  # for a helper to finish its batch when the hub stops, before it is killed


class Helpers:
    """The filing process's helpers: at most `most`, each running `work()` in a forked child until it returns."""

    def __init__(self, most: int, work: Callable[[], None]) -> None:
        self.most = most
        self._work = work
        self._pids: list[int] = []

    def alive(self) -> int:
        """How many helpers are running now (ended ones are reaped here)."""
        for pid in list(self._pids):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                self._pids.remove(pid)
                code = os.waitstatus_to_exitcode(status)
                if code != 0:
                    log.error("a filing helper ended with exit status %s; what it held is filed again from "
                              "the spool", code)
        return len(self._pids)

    def needed(self, waiting: int) -> None:
        """Start a helper if `waiting` messages are a burst and another may start."""
        if waiting >= HELP_AT and self.alive() < self.most:
            self._start(waiting)

    def stop(self) -> None:
        """Wait for the helpers to finish their batch (they see the hub's stop), killing what does not."""
        deadline = time.monotonic() + STOP_SECONDS
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self._pids:
            os.kill(pid, signal.SIGKILL)
        while self._pids and self.alive():
            time.sleep(0.05)

    def _start(self, waiting: int) -> None:
        parent = os.getpid()
        close_connections()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                die_with_parent(parent)
                self._pids = []  # the filing process's to wait for, not this helper's
                self._work()
                code = 0
            except BaseException:
                log.exception("the filing helper failed")
            finally:
                os._exit(code)  # never the filing process's exit handlers, nor its stack
        self._pids.append(pid)
        log.info("a filing helper (process %d) files beside the filing process: %d messages wait", pid, waiting)
