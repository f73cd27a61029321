"""Processes of their own for `hub serve`: the filing process and the outbox worker run beside the main one
(receiving, scheduling, the web admin), so that their CPU work never holds the interpreter lock against the
SMTP listener. A child that dies stops the hub (exit status 1) for its supervisor to restart it.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable

from hub import i18n, memory, secret
from hub.config import Config

log = logging.getLogger("hub.supervisor")


class ChildProcess:
    """A service that runs `target(*args)` in a forked process of its own. If the process dies (killed, out
    of memory), `on_death` is called: `run()` then stops the hub with exit status 1, so that the supervisor
    restarts it (and the restart files what is left in the spool).

    Forked, not spawned: a child shares the modules the hub already imported with it (copy-on-write) instead
    of importing them again, which took `hub serve` from 214 to 133–139 MiB PSS idle after its start. `hub
    serve` starts its children first, before any thread or database connection of its own; `hub.db` makes a
    child forget any engine it inherits all the same.
    """

    _context = multiprocessing.get_context("fork")

    def __init__(self, name: str, on_death: Callable[[], None] | None = None, label: str | None = None):
        self.name, self.on_death = name, on_death
        self.label = label or name  # what the process does, in its name and log lines
        self._stop = self._context.Event()
        self._stopping = False
        self._process: multiprocessing.process.BaseProcess | None = None

    def _target(self) -> tuple[Callable, tuple]:
        raise NotImplementedError

    def start(self) -> None:
        target, args = self._target()
        # Objects that exist now are never collected, so the collector does not write to each of them in a
        # child (its reference counts and links live in the object's own memory page, which the write would
        # copy): the pages stay shared.
        gc.freeze()
        self._process = self._context.Process(target=target, args=args, daemon=True,
                                              name=f"hub-{self.label.replace(' ', '-')}")
        self._process.start()
        threading.Thread(target=self._watch, name=f"{self.name} watch", daemon=True).start()

    def stop(self) -> None:
        self._stopping = True
        self._stop.set()
        self._release()
        if self._process is not None:
            self._process.join(120)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()

    def _release(self) -> None:
        """What to let go of before waiting for the process to end."""

    def _watch(self) -> None:
        self._process.join()
        if not self._stopping:
            log.error("the %s process died (exit status %s); the hub stops so that it can be restarted",
                      self.label, self._process.exitcode)
            if self.on_death is not None:
                self.on_death()


def child_start(config: Config, nice: int) -> None:
    """The start of every child process: its log lines, its language, its priority, one malloc arena for its
    threads, and signals left to the parent."""
    setup_logging()
    i18n.activate(config.alliance.language)
    secret.load(config)
    os.nice(nice)
    memory.one_arena()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def stop_with_parent(parent, stop, wake=None) -> None:
    """A hub killed with SIGKILL cannot tell its children: they stop when they see it gone (and `wake` ends
    the child's wait)."""
    while not stop.wait(1.0):
        if parent is not None and not parent.is_alive():
            stop.set()
            if wake is not None:
                wake.set()


def setup_logging() -> None:
    """One line per event on stderr, where systemd's journal or a terminal picks it up."""
    root = logging.getLogger()
    if not any(getattr(h, "_hub", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._hub = True
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    # aiosmtpd logs every SMTP command at INFO; the hub's own "received" line says what matters.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
