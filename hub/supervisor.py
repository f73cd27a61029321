"""The supervisor behind `hub serve`: it receives (SMTP/LMTP, IMAP), schedules and serves the web admin in its
own process, and runs filing and the outbox worker in a child process each.

Everything long-running is a *service*: an object with `name`, `start()` and `stop()`. `run()` starts
them in order and stops them in reverse order, so the receivers stop accepting before the spool worker
finishes its current message. A loop function `f(config, stop_event)` (the outbox worker) becomes a
service in a process of its own through `LoopProcess`.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Protocol

from hub import alliance, delivery, filing, i18n, secret, sends
from hub.config import Config, dkim_key
from hub.db import session_scope
from hub.inbound import spool
from hub.inbound.imap import Poller
from hub.inbound.smtp import Listener
from hub.scheduler import policies
from hub.scheduler.runner import Runner

log = logging.getLogger("hub.supervisor")

# A message whose storing fails this often (the database is down, the disk is full) waits in the spool
# for the next start instead of blocking everything behind it.
ATTEMPTS = 3
RETRY_SECONDS = 5.0
BATCH = 50  # messages filed in one transaction at most
UNCLAIMED_AFTER = 2.0  # seconds: the listener hands its own mail over at once; what waits longer, nobody will


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ChildProcess:
    """A service that runs `target(*args)` in a spawned process of its own. If the process dies (killed, out
    of memory), `on_death` is called: `run()` then stops the hub with exit status 1, so that the supervisor
    restarts it (and the restart files what is left in the spool)."""

    _context = multiprocessing.get_context("spawn")  # never fork a process holding database connections

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


def _child(config: Config, nice: int) -> None:
    """The start of every child process: its log lines, its language (a spawned process starts German),
    its priority, and signals left to the parent."""
    setup_logging()
    i18n.activate(config.alliance.language)
    secret.load(config)
    os.nice(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class LoopProcess(ChildProcess):
    """A loop function `target(config, stop_event)` that returns once `stop_event` is set, in a process of
    its own: the outbox worker composes and sends thousands of mails after a newsletter, and in the hub's
    process it would hold the interpreter lock against the SMTP listener."""

    def __init__(self, name: str, config: Config, target: Callable[[Config, threading.Event], None],
                 on_death: Callable[[], None] | None = None, nice: int = 0):
        super().__init__(name, on_death)
        self.config, self.loop, self.nice = config, target, nice

    def _target(self) -> tuple[Callable, tuple]:
        return _loop_process, (self.loop, self.config, self._stop, self.nice)


def _loop_process(target: Callable[[Config, threading.Event], None], config: Config, stop, nice: int) -> None:
    _child(config, nice)
    parent = multiprocessing.parent_process()
    watcher = threading.Thread(target=_stop_with_parent, args=(parent, stop), daemon=True)
    watcher.start()
    target(config, stop)


def _stop_with_parent(parent, stop) -> None:
    """A hub killed with SIGKILL cannot tell its children: they stop when they see it gone."""
    while not stop.wait(1.0):
        if parent is not None and not parent.is_alive():
            stop.set()


class SpoolWorker(ChildProcess):
    """Files spooled messages in a process of its own; `submit` is the receivers' `on_spooled`.

    A process, not a thread: filing is CPU work (parsing, documents, routing, extraction) that would hold
    the interpreter lock against the SMTP event loop (bench/inbound.py: the listener accepted half as
    fast beside a filing thread).
    """

    def __init__(self, config: Config, on_death: Callable[[], None] | None = None):
        super().__init__("spool worker", on_death, label="filing")
        self.config = config
        self._queue = self._context.Queue()

    def submit(self, entry: spool.SpoolEntry) -> None:
        """Never blocks: called on the SMTP event loop right after the 250."""
        self._queue.put(entry)

    def _target(self) -> tuple[Callable, tuple]:
        return _filing_process, (self.config, self._queue, self._stop)

    def _release(self) -> None:
        """Finish the message in hand; what is still queued stays in the spool for the next start."""
        self._queue.put(None)
        self._queue.cancel_join_thread()  # entries not yet handed over are in the spool anyway


def _filing_process(config: Config, entries, stop) -> None:
    # Senders wait for their 250, nobody waits for filing: on a busy machine the listener goes first.
    _child(config, nice=15)
    parent = multiprocessing.parent_process()
    while not stop.is_set():
        try:
            entry = entries.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return  # the hub was killed: its restart files what is in the spool
            _file_unclaimed(config, stop)
            _follow_up(config, entries, stop)
            continue
        if entry is None or stop.is_set():
            return
        batch = [entry]
        # What arrived meanwhile is filed in the same transaction: under load one commit serves many.
        while len(batch) < BATCH:
            try:
                entry = entries.get_nowait()
            except queue.Empty:
                break
            if entry is None:
                _file(config, batch, stop)
                return
            batch.append(entry)
        _file(config, batch, stop)
        if entries.empty():
            _follow_up(config, entries, stop)


def _file_unclaimed(config: Config, stop) -> None:
    """While no mail is handed over: file what other processes spooled (`hub ingest --queue` from a Postfix
    pipe) in batches as the listener's mail is filed."""
    try:
        waiting = spool.unclaimed(config.data_dir, UNCLAIMED_AFTER)
    except OSError:
        log.exception("could not read the spool; trying again in a moment")
        return
    for start in range(0, len(waiting), BATCH):
        if stop.is_set():
            return
        _file(config, waiting[start:start + BATCH], stop)


def _follow_up(config: Config, entries, stop) -> None:
    """Receipts and relays while no mail waits to be filed: storing what arrives always goes first."""
    try:
        while not stop.is_set() and filing.follow_up(config, limit=10) and entries.empty():
            pass
    except Exception:
        log.exception("follow-up of filed protocols failed; it is tried again in a moment")


def _file(config: Config, batch: list[spool.SpoolEntry], stop) -> None:
    if len(batch) > 1:
        try:
            filing.process_entries(config, batch, full=False)
            return
        except Exception:
            log.exception("could not file %d messages together; filing them one by one", len(batch))
    for entry in batch:
        _file_one(config, entry, stop)


def _file_one(config: Config, entry: spool.SpoolEntry, stop) -> None:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            filing.process_entry(config, entry, full=False)
            return
        except Exception:
            if not entry.path.exists():  # already stored by someone else (`hub ingest`, a second hub)
                return
            log.exception("could not file %s (attempt %d of %d)", entry.path.name, attempt, ATTEMPTS)
            if stop.wait(RETRY_SECONDS * attempt):
                return
    log.error("%s stays in the spool; it is filed at the next start of the hub", entry.path.name)


def services(config: Config, worker: SpoolWorker, host: str | None = None, port: int | None = None,
             imap: bool = True, on_death: Callable[[], None] | None = None) -> list[Service]:
    """What one `hub serve` runs, in start order (stopped in reverse)."""
    running: list[Service] = [worker]
    if config.inbound.enabled:
        running.append(Listener(config, worker.submit, host=host, port=port))
    if imap and config.imap is not None:
        running.append(Poller(config, worker.submit, interval=functools.partial(_imap_poll_seconds, config)))
    # Receiving goes first, then filing (nice 15), then sending: nobody waits for a mail to the second.
    running.append(LoopProcess("outbox worker", config, delivery.run_worker, on_death, nice=19))
    running.append(Runner(config, sends.execute))
    if config.web.enabled:
        running.append(_web_server(config))
    return running


def _web_server(config: Config) -> Service:
    from hub.web.server import WebServer  # lazy: the web stack loads only when the web admin is on

    return WebServer(config)


def _imap_poll_seconds(config: Config) -> int:
    """The IMAP poll interval in force: the coordinator's override, else `[imap] poll_interval`."""
    with session_scope(config.database_url) as session:
        return policies.load(session, config, alliance.current(session, config)).imap_poll_seconds


def run(config: Config, host: str | None = None, port: int | None = None, imap: bool = True,
        stop: threading.Event | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or `stop` is set); returns the exit status."""
    if config.dkim:
        dkim_key(config)  # a missing or broken key stops the start (exit 2) before any listener opens
    setup_logging()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, frame: stop.set())
    config.data_dir.mkdir(parents=True, exist_ok=True)
    secret.load(config)  # created on the first start, before any mail is written
    left = filing.recover(config)
    if left:
        log.info("recovered %d message(s) left in the spool", len(left))
    died = threading.Event()
    worker = SpoolWorker(config, on_death=lambda: (died.set(), stop.set()))
    started: list[Service] = []
    try:
        for item in services(config, worker, host=host, port=port, imap=imap,
                             on_death=lambda: (died.set(), stop.set())):
            item.start()
            started.append(item)
            log.info("started %s", item.name)
        log.info("hub serving %s", config.alliance.name)
        stop.wait()
        log.info("stopping")
    finally:
        for item in reversed(started):
            item.stop()
            log.info("stopped %s", item.name)
    return 1 if died.is_set() else 0


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
