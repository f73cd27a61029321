"""`hub serve`: one process that receives (SMTP/LMTP, IMAP) and files what it received.

Everything long-running is a *service*: an object with `name`, `start()` and `stop()`. `run()` starts
them in order and stops them in reverse order, so the receivers stop accepting before the spool worker
finishes its current message. More services (the outbox worker, the scheduler, the web server) are one
more entry in `services()`; a loop function `f(config, stop_event)` fits through `LoopThread`.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Protocol

from hub import service
from hub.config import Config
from hub.inbound import spool
from hub.inbound.imap import Poller
from hub.inbound.smtp import Listener

log = logging.getLogger("hub.serve")

# A message whose storing fails this often (the database is down, the disk is full) waits in the spool
# for the next start instead of blocking everything behind it.
ATTEMPTS = 3
RETRY_SECONDS = 5.0


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LoopThread:
    """A service from a loop function `target(config, stop_event)` that returns once `stop_event` is set."""

    def __init__(self, name: str, config: Config, target: Callable[[Config, threading.Event], None]):
        self.name, self.config, self.target = name, config, target
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.target, args=(self.config, self._stop), name=self.name,
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class SpoolWorker:
    """Files spooled messages one after another in its own thread; `submit` is the receivers' `on_spooled`."""

    name = "spool worker"

    def __init__(self, config: Config, process: Callable[[Config, spool.SpoolEntry], object] = service.process_entry):
        self.config = config
        self.process = process
        self._queue: queue.Queue[spool.SpoolEntry | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, entry: spool.SpoolEntry) -> None:
        """Never blocks: called on the SMTP event loop right after the spool write."""
        self._queue.put(entry)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the message in hand; what is still queued stays in the spool for the next start."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            entry = self._queue.get()
            if entry is None:
                return
            self._file(entry)

    def _file(self, entry: spool.SpoolEntry) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.process(self.config, entry)
                return
            except Exception:
                if not entry.path.exists():  # already stored by someone else (`hub ingest`, a second hub)
                    return
                log.exception("could not file %s (attempt %d of %d)", entry.path.name, attempt, ATTEMPTS)
                if self._stop.wait(RETRY_SECONDS * attempt):
                    return
        log.error("%s stays in the spool; it is filed at the next start of the hub", entry.path.name)


def services(config: Config, worker: SpoolWorker, host: str | None = None, port: int | None = None,
             imap: bool = True) -> list[Service]:
    """What one `hub serve` runs, in start order (stopped in reverse)."""
    running: list[Service] = [worker]
    if config.inbound.enabled:
        running.append(Listener(config, worker.submit, host=host, port=port))
    if imap and config.imap is not None:
        running.append(Poller(config, worker.submit))
    if config.web.enabled:
        running.append(_web_server(config))
    return running


def _web_server(config: Config) -> Service:
    from hub.web.server import WebServer  # the web stack loads only when the web admin is on

    return WebServer(config)


def run(config: Config, host: str | None = None, port: int | None = None, imap: bool = True,
        stop: threading.Event | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or `stop` is set); returns the exit status."""
    setup_logging()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, frame: stop.set())
    config.data_dir.mkdir(parents=True, exist_ok=True)
    left = service.recover(config)
    if left:
        log.info("recovered %d message(s) left in the spool", len(left))
    worker = SpoolWorker(config)
    started: list[Service] = []
    try:
        for item in services(config, worker, host=host, port=port, imap=imap):
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
    return 0


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
