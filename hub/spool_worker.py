"""The filing process of `hub serve`: it files what the receivers spooled, in batches, and tells the outbox
process (`hub.outbox_worker`, which follows up: receipts, relays) after each batch. It also files what the last
run left in the spool and what `hub ingest --queue` spools, so that the listener opens at once whatever the
spool holds.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hub import filing, memory
from hub.config import Config
from hub.filing_helpers import IDLE_SECONDS, Helpers
from hub.inbound import spool
from hub.inbound.mime import DocumentReader
from hub.inbound.sandbox import Sandbox, limits_from_config
from hub.processes import ChildProcess, child_start

log = logging.getLogger("hub.supervisor")

# A message whose storing fails this often (the database is down, the disk is full) waits in the spool
# and is tried again later (`Backoff`) instead of blocking everything behind it.
ATTEMPTS = 3
RETRY_SECONDS = 5.0
BATCH = 50  # messages filed in one transaction at most
UNCLAIMED_AFTER = 2.0  # seconds: the listener hands its own mail over at once; what waits longer, nobody will


class SpoolWorker(ChildProcess):
    """Files spooled messages in a process of its own; `submit` is the receivers' `on_spooled`.

    A process, not a thread: filing is CPU work (parsing, documents, routing, extraction) that would hold
    the interpreter lock against the SMTP event loop (bench/inbound.py: the listener accepted half as
    fast beside a filing thread).
    """

    def __init__(self, config: Config, on_death: Callable[[], None] | None = None, alliances: Sequence[Config] = ()):
        super().__init__("spool worker", on_death, label="filing")
        self.config = config
        self.alliances = tuple(alliances)
        self._queue = self._context.Queue()
        self.on_filed: Any = None  # a multiprocessing Event, set after each stored batch

    def submit(self, entry: spool.SpoolEntry) -> None:
        """Never blocks: called on the SMTP event loop right after the 250."""
        self._queue.put(entry)

    def _target(self) -> tuple[Callable, tuple]:
        return _filing_process, (self.config, self._queue, self._stop, self.on_filed, self.alliances)

    def _release(self) -> None:
        """Finish the message in hand; what is still queued stays in the spool for the next start."""
        for _process in range(self.config.inbound.filing_processes):  # a stop sign for each that files
            self._queue.put(None)
        self._queue.cancel_join_thread()  # entries not yet handed over are in the spool anyway


def _filing_process(config: Config, entries, stop, on_filed, alliances: tuple[Config, ...] = ()) -> None:
    # Senders wait for their 250, nobody waits for filing: on a busy machine the listener goes first.
    child_start(config, nice=15)
    parent = multiprocessing.parent_process()
    spool.sweep(config.data_dir)
    # What the last run left in the spool is filed here, after the listener opened: see _file_unclaimed.
    filing.warm_up(alliances[0] if alliances else config)
    backoff = Backoff()
    # Created in this thread, which lives as long as the process: the worker dies with the thread that made it.
    with Sandbox(limits_from_config(config.extraction)) as sandbox:
        filer = Filer(config, stop, backoff, sandbox.read, on_filed, alliances)
        helpers = Helpers(config.inbound.filing_processes - 1, lambda: _helping(entries, stop, filer, sandbox))
        try:
            _filing_loop(entries, stop, parent, filer, helpers)
        finally:
            helpers.stop()


def _helping(entries, stop, filer: Filer, inherited: Sandbox) -> None:
    """A filing helper's life (hub.filing_helpers): it files from the same queue until it finds nothing for a
    while. Its own sandbox: the inherited worker answers the filing process."""
    inherited.forsake()
    with Sandbox(inherited.limits) as sandbox:
        _filing_loop(entries, stop, None, replace(filer, read_document=sandbox.read, backoff=Backoff()),
                     helping=filer.config.inbound.filing_processes)


def _filing_loop(entries, stop, parent, filer: Filer, helpers: Helpers | None = None, helping: int = 0) -> None:
    """Files what the listener hands over, in batches. The filing process (`helpers`) starts helpers during a
    burst and, when nothing comes, files what nobody handed over; a helper (`helping`: the processes there are
    at most) ends after `IDLE_SECONDS` without work. While several file, each takes its share of what waits,
    so that a burst is split between them instead of going to the first."""
    idle = memory.Idle()
    worked = time.monotonic()
    while not stop.is_set():
        try:
            entry = entries.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return  # the hub was killed: its restart files what is in the spool
            if helping:
                if time.monotonic() - worked >= IDLE_SECONDS:
                    return
                continue
            if helpers is None or not helpers.alive():  # a helper's batch in hand is not unclaimed
                filer.unclaimed(entries)
            idle.falling_idle()
            continue
        if entry is None or stop.is_set():
            return
        batch = [entry]
        waiting = _waiting(entries)
        if helpers is not None:
            helpers.needed(waiting)
        processes = helping or 1 + (helpers.alive() if helpers is not None else 0)
        # What arrived meanwhile is filed in the same transaction: under load one commit serves many.
        while len(batch) < min(BATCH, 1 + waiting // processes):
            try:
                entry = entries.get_nowait()
            except queue.Empty:
                break
            if entry is None:
                filer.file(batch)
                return
            batch.append(entry)
        filer.file(batch)
        idle.work()
        worked = time.monotonic()


def _waiting(entries) -> int:
    try:
        return entries.qsize()
    except NotImplementedError:  # macOS has no sem_getvalue: each process takes what it finds
        return BATCH


class Backoff:
    """Spooled messages whose filing failed (the database or the disk): tried again after a growing pause,
    up to `MAX_PAUSE`, so that a fault that lasts is retried without a log line per second."""

    MAX_PAUSE = 300.0

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}

    def due(self, entry: spool.SpoolEntry) -> bool:
        failures, since = self._failures.get(entry.path.name, (0, 0.0))
        return not failures or time.monotonic() - since >= min(RETRY_SECONDS * 2 ** failures, self.MAX_PAUSE)

    def failed(self, entry: spool.SpoolEntry) -> None:
        failures, _since = self._failures.get(entry.path.name, (0, 0.0))
        self._failures[entry.path.name] = (failures + 1, time.monotonic())

    def filed(self, entry: spool.SpoolEntry) -> None:
        self._failures.pop(entry.path.name, None)


@dataclass
class Filer:
    """Files batches of spooled messages in the filing process, attachments read by its sandbox."""

    config: Config
    stop: Any  # a multiprocessing Event
    backoff: Backoff
    read_document: DocumentReader
    on_filed: Any = None  # a multiprocessing Event the outbox process waits on
    # The alliances served (an installation of many): each message is filed for the one its recipients name.
    alliances: tuple[Config, ...] = ()

    def alliance_of(self, entry: spool.SpoolEntry) -> Config:
        """The config of the alliance whose mailbox the message was fetched from (IMAP), or whose domain the
        envelope's recipients are at (the listener accepts one alliance per message); the config's own for mail
        without either (`hub ingest`)."""
        domains = ({entry.alliance} if entry.alliance else
                   {address.rpartition("@")[2].lower() for address in entry.envelope_to or ()})
        return next((each for each in self.alliances if each.alliance.domain in domains), self.config)

    def _filed(self) -> None:
        if self.on_filed is not None:
            self.on_filed.set()

    def unclaimed(self, entries) -> None:
        """While no mail is handed over: file what the last run left in the spool and what other processes
        spool (`hub ingest --queue` from a Postfix pipe), in batches, giving way to the listener's mail between
        them. This is the recovery after a crash, here so that the listener opens at once whatever the spool
        holds."""
        try:
            waiting = [e for e in spool.unclaimed(self.config.data_dir, UNCLAIMED_AFTER) if self.backoff.due(e)]
        except OSError:
            log.exception("could not read the spool; trying again in a moment")
            return
        for start in range(0, len(waiting), BATCH):
            if self.stop.is_set() or not entries.empty():
                return
            self.file(waiting[start:start + BATCH])

    def file(self, batch: list[spool.SpoolEntry]) -> None:
        by_alliance: dict[int, tuple[Config, list[spool.SpoolEntry]]] = {}
        for entry in batch:
            config = self.alliance_of(entry)
            by_alliance.setdefault(id(config), (config, []))[1].append(entry)
        for config, entries in by_alliance.values():
            self._file_together(config, entries)

    def _file_together(self, config: Config, batch: list[spool.SpoolEntry]) -> None:
        if len(batch) > 1:
            try:
                filing.process_entries(config, batch, full=False, read_document=self.read_document)
                self._filed()
                return
            except Exception:
                log.exception("could not file %d messages together; filing them one by one", len(batch))
        for entry in batch:
            self._file_one(config, entry)

    def _file_one(self, config: Config, entry: spool.SpoolEntry) -> None:
        """A message whose filing raises goes to quarantine (filing does that); what fails here is the database
        or the disk, so the message is tried again a few times, then left in the spool for later."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                filing.process_entries(config, [entry], full=False, read_document=self.read_document)
                self.backoff.filed(entry)
                self._filed()
                return
            except Exception:
                if not entry.path.exists():  # already stored by someone else (`hub ingest`, a second hub)
                    return
                log.exception("could not file %s (attempt %d of %d)", entry.label, attempt, ATTEMPTS)
                if self.stop.wait(RETRY_SECONDS * attempt):
                    return
        self.backoff.failed(entry)
        log.error("%s stays in the spool; it is filed again later", entry.label)
