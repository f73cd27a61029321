"""The outbox process of `hub serve`, the stages after filing: it follows up what the filing process filed
(receipts, relays, proposed meetings: `hub.follow_up`) and sends what is due (`hub.delivery`).

Following up here, not in the filing process, lets the two run side by side on two cores: a burst is filed
at the speed of filing, and receipts are composed while it is (Mailman's runner per stage). The filing
process sets `wake` after each batch it stored, so a receipt does not wait for the next poll; on PostgreSQL
mail queued by any process of any node sets it too (hub/outbound/wakeup.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import threading
from collections.abc import Callable, Sequence

from hub import delivery, follow_up, memory
from hub.alliance import alliance_ids
from hub.config import Config
from hub.db import read_scope
from hub.outbound import deliver, outbox, wakeup
from hub.outbound.delivery_records import FlushResult
from hub.processes import ChildProcess, child_start, stop_with_parent

log = logging.getLogger("hub.outbound")

FOLLOW_UP_BATCH = 50  # protocols followed up between two sends: the first receipts leave while a burst is composed,
# and a round's transactions and queries serve 50 (20: 25 % more CPU per protocol in the outbox process)


class OutboxWorker(ChildProcess):
    """Follows up and sends in a process of its own: composing thousands of mails after a newsletter would hold
    the interpreter lock against the SMTP listener. `wake` is the filing process's "filed" signal."""

    def __init__(self, config: Config, on_death: Callable[[], None] | None = None, alliances: Sequence[Config] = ()):
        super().__init__("outbox worker", on_death)
        self.config = config
        self.alliances = tuple(alliances)
        self.wake = self._context.Event()

    def _target(self) -> tuple[Callable, tuple]:
        return _outbox_process, (self.config, self._stop, self.wake, self.alliances)

    def _release(self) -> None:
        self.wake.set()  # ends the wait between two rounds at once


def _outbox_process(config: Config, stop, wake, alliances: tuple[Config, ...] = ()) -> None:
    # Receiving goes first, then filing (nice 15), then sending: nobody waits for a mail to the second.
    child_start(config, nice=19)
    for each in alliances or (config,):  # the first alliance's were compiled before the fork: shared, not again
        follow_up.warm_up(each)
    threading.Thread(target=stop_with_parent, args=(multiprocessing.parent_process(), stop, wake),
                     daemon=True).start()
    if wake is not None:
        threading.Thread(target=wakeup.listen, args=(config.database_url, wake, stop), name="outbox-listen",
                         daemon=True).start()
    run(config, stop, wake, alliances)


def run(config: Config, stop: threading.Event, wake: threading.Event | None = None,
        alliances: Sequence[Config] = ()) -> None:
    """Follow up, send what is due, wait (until `wake` or the poll interval), repeat until `stop` is set; in
    turn for each alliance served (`alliances`, else the config's own).

    While the smarthost is unreachable the pause grows like the retry backoff, so an outage costs no load.
    """
    worker_id = deliver.default_worker_id()
    pause = config.outbox.poll_seconds
    idle = memory.Idle()
    while not stop.is_set():
        if wake is not None:
            wake.clear()  # what is filed from now on sets it again
        followed, result, sent_any = 0, FlushResult(), False
        for each in _with_work(config, alliances) if len(alliances) > 1 else alliances or (config,):
            followed += _follow_up(each)
            try:
                sent = delivery.flush(each, worker_id, stop=stop)
            except Exception:
                log.exception("outbox flush failed")
                sent = FlushResult(unreachable="error")
            result = sent if sent.unreachable else result
            sent_any = sent_any or bool(sent.sent or sent.deferred or sent.failed)
        if followed or sent_any:
            idle.work()
        else:
            idle.falling_idle()  # the first round with nothing to do, after rounds that worked
        if result.unreachable:
            # capped at five minutes: new mail (a receipt) should not wait for the longest retry delay
            pause = min(300, config.outbox.retry_max_seconds, max(config.outbox.retry_base_seconds, pause * 2))
        else:
            pause = config.outbox.poll_seconds
        if followed and not result.unreachable:
            continue  # more protocols may wait for their receipts
        (wake or stop).wait(pause)


def _with_work(config: Config, alliances: Sequence[Config]) -> list[Config]:
    """The alliances with protocols to follow up or mail due, found in two queries over all of them: a round
    that asked each alliance cost 15–19 ms of CPU for each, with nothing to do (bench/tenancy.py: a quarter of a
    CPU idle at 66 alliances, and a round of 11 s at 660)."""
    try:
        with read_scope(config.database_url) as session:
            busy = follow_up.alliances_waiting(session) | outbox.alliances_due(session)
            ids = alliance_ids(session)
    except Exception:
        log.exception("could not ask which alliances have mail to send; asking each of them")
        return list(alliances)
    waiting = [each for each in alliances if ids.get(each.alliance.domain) in busy]
    # Each round begins at another alliance: none always waits behind all the others, and two nodes rarely
    # work on one alliance at once (each would open its SMTP connections and make its mails' skeletons).
    start = random.randrange(len(waiting)) if waiting else 0
    return waiting[start:] + waiting[:start]


def _follow_up(config: Config) -> int:
    try:
        return follow_up.follow_up(config, limit=FOLLOW_UP_BATCH)
    except Exception:
        log.exception("follow-up of filed protocols failed; it is tried again in a moment")
        return 0
