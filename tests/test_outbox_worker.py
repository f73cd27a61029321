"""The stages after filing in `hub serve`: the filing process only files and says so; the outbox process follows
up (receipts, relays) and sends, woken by the filing process, and sends receipts while a burst is still being
followed up (issue 18: no receipt waits for the burst to end)."""

from __future__ import annotations

import queue
import threading
import time

from smtp_sink import SmtpSink, configure
from sqlmodel import select
from test_ingest import WEISS, mail
from test_tenancy import two  # noqa: F401  (a fixture)

from hub import delivery, filing, follow_up, outbox_worker, spool_worker
from hub.alliance import unit_of_work
from hub.inbound import spool
from hub.models import InboundMessage

PROTOCOLS = "protokolle@buendnis-musterhausen.example"


def _spool(config, count: int, prefix: str) -> list[spool.SpoolEntry]:
    return [spool.write(config.data_dir, mail(message_id=f"<{prefix}-{n}@example.org>",
                                              subject=f"Protokoll AG Gesundheit {prefix} {n}"),
                        via="smtp", envelope_from=WEISS, envelope_to=[PROTOCOLS]) for n in range(count)]


def _followed_up(config) -> list:
    with unit_of_work(config) as session:
        return sorted(t for t in session.exec(select(InboundMessage.followed_up_at)) if t is not None)


def test_the_filing_loop_files_says_so_and_leaves_the_follow_up_to_the_outbox_process(config, partners):
    entries: queue.Queue = queue.Queue()
    for entry in _spool(config, 3, "loop"):
        entries.put(entry)
    entries.put(None)  # the stop sign after them
    filed, stop = threading.Event(), threading.Event()
    filer = spool_worker.Filer(config, stop, spool_worker.Backoff(), read_document=None, on_filed=filed)
    spool_worker._filing_loop(entries, stop, None, filer)
    assert filed.is_set()
    with unit_of_work(config) as session:
        rows = session.exec(select(InboundMessage)).all()
    assert len(rows) == 3 and {r.followed_up_at for r in rows} == {None}


def test_a_filed_protocol_wakes_the_outbox_process_at_once(hub_dir, config, partners):
    with SmtpSink() as sink:
        # A poll interval far longer than the test: only the wake-up can make the receipt leave in time.
        mailing = configure(hub_dir, sink, outbox={"poll_seconds": 120})
        stop, wake = threading.Event(), threading.Event()
        worker = threading.Thread(target=outbox_worker.run, args=(mailing, stop, wake))
        worker.start()
        try:
            time.sleep(0.5)  # the first round (nothing to do) is over: the worker waits
            filing.process_entries(mailing, _spool(mailing, 1, "wake"), full=False)
            assert not sink.messages
            wake.set()
            sink.wait_for(2, timeout=30)  # the receipt and the relay to AG Gesundheit
        finally:
            stop.set()
            wake.set()
            worker.join(30)
        assert not worker.is_alive()
        assert len(_followed_up(mailing)) == 1


def test_receipts_leave_while_a_burst_is_still_followed_up(hub_dir, config, partners):
    burst = 3 * outbox_worker.FOLLOW_UP_BATCH
    with SmtpSink() as sink:
        mailing = configure(hub_dir, sink, outbox={"poll_seconds": 120}, smtp={"rate_per_minute": 100000})
        filing.process_entries(mailing, _spool(mailing, burst, "burst"), full=False)
        stop = threading.Event()
        worker = threading.Thread(target=outbox_worker.run, args=(mailing, stop, None))
        worker.start()
        followed_when_first_sent = None
        try:
            while (followed := len(_followed_up(mailing))) < burst:
                if followed_when_first_sent is None and sink.messages:
                    followed_when_first_sent = followed
                worker.join(0.01)
                assert worker.is_alive()
        finally:
            stop.set()
            worker.join(30)
    # The first batch's mails were at the sink while the rest of the burst still waited for its follow-up.
    assert followed_when_first_sent is not None and followed_when_first_sent < burst


def test_a_round_asks_only_the_alliances_with_protocols_or_mail_waiting(two):  # noqa: F811
    """A round that followed up and flushed every alliance cost each one CPU with nothing to do."""
    configs = list(two.values())
    for each in configs:
        follow_up.follow_up_all(each)
        delivery.flush(each)
    assert outbox_worker._with_work(configs[0], configs) == []

    second = two["zwei"]
    raw = mail(to=f"protokolle@{second.alliance.domain}", message_id="<nur-im-zweiten@example.org>",
               subject="Ergebnisprotokoll AG Gesundheit vom 20.03.2026")
    filing.process_entries(second, [spool.write(second.data_dir, raw, via="smtp",
                                                envelope_to=[f"protokolle@{second.alliance.domain}"])])
    assert outbox_worker._with_work(configs[0], configs) == [second]  # a protocol to follow up
    follow_up.follow_up_all(second)
    assert outbox_worker._with_work(configs[0], configs) == [second]  # its receipt and relay to send
    delivery.flush(second)
    assert outbox_worker._with_work(configs[0], configs) == []


def test_rounds_begin_at_different_alliances(two):  # noqa: F811
    """No alliance always waits behind all the others, and two nodes rarely flush one alliance at once."""
    configs = list(two.values())
    for n, each in enumerate(configs):
        raw = mail(to=f"protokolle@{each.alliance.domain}", message_id=f"<runde-{n}@example.org>",
                   subject="Ergebnisprotokoll AG Gesundheit vom 20.03.2026")
        filing.process_entries(each, [spool.write(each.data_dir, raw, via="smtp",
                                                  envelope_to=[f"protokolle@{each.alliance.domain}"])])
    rounds = [outbox_worker._with_work(configs[0], configs) for _ in range(40)]
    domains = sorted(each.alliance.domain for each in configs)
    assert all(sorted(each.alliance.domain for each in r) == domains for r in rounds)  # each once a round
    assert {r[0].alliance.domain for r in rounds} == set(domains)
