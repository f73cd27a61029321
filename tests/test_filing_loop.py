"""The filing process's loop: under steady load, receipts and relays keep pace with filing (issue 18)."""

from __future__ import annotations

import queue
import threading

from sqlmodel import select
from test_ingest import WEISS, mail

from hub import spool_worker
from hub.db import session_scope
from hub.inbound import spool
from hub.models import InboundMessage


class SteadyArrivals(queue.Queue):
    """The hand-over queue of the listener under steady load: whenever the filing loop looks, another mail has
    just arrived, until `total` have. Each time it hands one over it notes how many protocols were followed up."""

    def __init__(self, config, total: int):
        super().__init__()
        self.config, self.total, self.handed = config, total, 0
        self.followed_up_when_handed: list[tuple[int, int]] = []

    def _arrive(self) -> None:
        if self.handed < self.total:
            number = self.handed
            raw = mail(message_id=f"<steady-{number}@example.org>", subject=f"Protokoll AG Gesundheit {number}")
            entry = spool.write(self.config.data_dir, raw, via="smtp", envelope_from=WEISS,
                                envelope_to=["protokolle@buendnis-musterhausen.example"])
            self.handed += 1
            with session_scope(self.config.database_url) as session:
                done = len(session.exec(select(InboundMessage.id).where(
                    InboundMessage.followed_up_at.is_not(None))).all())
            self.followed_up_when_handed.append((self.handed, done))
            self.put(entry)

    def get(self, block=True, timeout=None):
        if block:
            self._arrive()
        return super().get(block, timeout)

    def get_nowait(self):
        if self.handed % 5:  # batches of five: then the loop finds the queue empty for a moment
            self._arrive()
        return super().get(False)

    def empty(self) -> bool:
        return self.handed >= self.total and super().empty()


def test_receipts_keep_pace_with_filing_while_mail_keeps_arriving(config, partners):
    arrivals = SteadyArrivals(config, total=30)
    stop = threading.Event()
    filer = spool_worker.Filer(config, stop, spool_worker.Backoff(), read_document=None)
    worker = threading.Thread(target=spool_worker._filing_loop, args=(config, arrivals, stop, None, filer))
    worker.start()
    try:
        while arrivals.handed < arrivals.total or not arrivals.empty():
            worker.join(0.1)
            assert worker.is_alive()
    finally:
        stop.set()
        worker.join(30)
    # While mail kept arriving, what had been filed was already followed up (receipt and relay queued):
    # before the last arrival at least 20 of the first 25 protocols had their receipts.
    handed, followed = arrivals.followed_up_when_handed[-1]
    assert handed == 30 and followed >= 20, arrivals.followed_up_when_handed

