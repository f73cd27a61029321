"""The supervisor behind `hub serve`: it receives (SMTP/LMTP, IMAP), schedules and serves the web admin in its
own process, and runs filing (`hub.spool_worker`) and what follows it, follow-up and sending
(`hub.outbox_worker`), in a child process each.

Everything long-running is a *service*: an object with `name`, `start()` and `stop()`. `run()` starts
them in order and stops them in reverse order, so the receivers stop accepting before the spool worker
finishes its current message.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.orm import configure_mappers

from hub import alliance, follow_up, retention, secret, sends
from hub.config import Config, dkim_key, web_hosts
from hub.inbound import authentication, spool
from hub.inbound.imap import Poller
from hub.inbound.smtp import Listener
from hub.outbox_worker import OutboxWorker
from hub.processes import setup_logging
from hub.scheduler import policies
from hub.scheduler.runner import Daily, Runner
from hub.spool_worker import SpoolWorker

log = logging.getLogger("hub.supervisor")


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def services(config: Config, worker: SpoolWorker, host: str | None = None, port: int | None = None,
             imap: bool = True, on_death: Callable[[], None] | None = None,
             alliances: Sequence[Config] = ()) -> list[Service]:
    """What one `hub serve` runs, in start order (stopped in reverse). With `alliances` (an installation of
    many), one listener, one filing and outbox process and one web server (by host) serve them all, and each
    has its scheduler and, if it has a mailbox (`[imap]`), its IMAP poller."""
    alliances = tuple(alliances) or (config,)
    outbox = OutboxWorker(config, on_death, alliances=alliances)
    worker.on_filed = outbox.wake
    # The child processes first: they are forked (hub.processes), before the listener's and the scheduler's
    # threads and the first database connection exist.
    running: list[Service] = [worker, outbox]
    if config.inbound.enabled:
        running.append(Listener(config, worker.submit, host=host, port=port, alliances=alliances))
    for each in alliances if imap else ():
        if each.imap is not None:  # the alliance's own mailbox: what it fetches is filed for the alliance
            running.append(Poller(each, worker.submit, interval=functools.partial(_imap_poll_seconds, each)))
    for each in alliances:
        running.append(Runner(each, sends.execute,
                              daily=(Daily("retention", each.retention.run_time, retention.daily),)))
    if config.web.enabled:
        running.append(_web_server(config, alliances))
    return running


def _web_server(config: Config, alliances: Sequence[Config]) -> Service:
    from hub.web.server import WebServer  # lazy: the web stack loads only when the web admin is on

    return WebServer(config, alliances=alliances)


def _shared_before_fork(config: Config) -> None:
    """Made once here, before the children are forked, so that they share it instead of each making its own:
    the ORM's mapper configuration, for the sender check the public suffix list, and the receipt's and relay's
    templates with the language's date formats (the outbox process makes those of other alliances with
    templates of their own: 6 templates at 50 ms for each would keep the listener closed)."""
    configure_mappers()
    if config.inbound.sender_check == "dmarc":
        authentication.organisational_domain(config.alliance.domain)
    follow_up.warm_up(config)


def _imap_poll_seconds(config: Config) -> int:
    """The IMAP poll interval in force: the coordinator's override, else `[imap] poll_interval`."""
    with alliance.unit_of_work(config) as session:
        return policies.load(session, config, alliance.current(session, config)).imap_poll_seconds


def run(config: Config, host: str | None = None, port: int | None = None, imap: bool = True,
        stop: threading.Event | None = None, alliances: Sequence[Config] = ()) -> int:
    """Serve until SIGTERM/SIGINT (or `stop` is set); returns the exit status. `alliances`: all the alliances
    of an installation of many (`config` is the first of them)."""
    for each in alliances or (config,):
        if each.dkim:
            dkim_key(each)  # a missing or broken key stops the start (exit 2) before any listener opens
    if config.web.enabled and len(alliances) > 1:
        web_hosts(list(alliances))  # so does a web address two alliances share
    setup_logging()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, frame: stop.set())
    config.data_dir.mkdir(parents=True, exist_ok=True)
    secret.load(config)  # created on the first start, before any mail is written
    left = len(spool.pending(config.data_dir))
    if left:
        log.info("%d message(s) left in the spool are filed after the start", left)
    _shared_before_fork(config)
    died = threading.Event()
    worker = SpoolWorker(config, on_death=lambda: (died.set(), stop.set()), alliances=alliances)
    started: list[Service] = []
    try:
        for item in services(config, worker, host=host, port=port, imap=imap,
                             on_death=lambda: (died.set(), stop.set()), alliances=alliances):
            item.start()
            started.append(item)
            log.info("started %s", item.name)
        log.info("hub serving %s", ", ".join(each.alliance.name for each in alliances or (config,)))
        stop.wait()
        log.info("stopping")
    finally:
        for item in reversed(started):
            item.stop()
            log.info("stopped %s", item.name)
    return 1 if died.is_set() else 0


