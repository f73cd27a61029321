"""The outbox: enqueue once per (mail, recipient), claim with leases, retry and cancel, the CLI."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from hub.alliance import unit_of_work
from hub.db import session_scope, utcnow
from hub.models import Delivery, OutboundMail, Partner
from hub.outbound import outbox, wakeup
from hub.outbound.outbox import Recipient


def _mail(**kw) -> OutboundMail:
    data = {"kind": "newsletter", "subject": "Neuigkeiten", "from_address": "", "text": "Hallo %%name%%",
            "source_ref": "newsletter:1"}
    return OutboundMail(**(data | kw))


def test_enqueue_twice_is_a_no_op(session, alliance):
    recipients = [Recipient(f"p{i}@example.org", name=f"P {i}") for i in range(5)]
    first = outbox.enqueue(session, _mail(), recipients)
    again = outbox.enqueue(session, _mail(), recipients + [Recipient("P0@EXAMPLE.org")])
    session.commit()
    assert (first.queued, first.duplicates) == (5, 0)
    assert (again.queued, again.duplicates) == (0, 6)
    assert len(session.exec(select(Delivery)).all()) == 5


def test_enqueue_skips_left_disabled_and_invalid(session, partners, alliance):
    active, left, disabled = session.exec(select(Partner).where(Partner.left_at.is_(None)).limit(3)).all()
    left.left_at = utcnow()
    disabled.disabled_at = utcnow()
    session.add_all([left, disabled])
    session.commit()
    result = outbox.enqueue(session, _mail(), [
        Recipient(active.email), Recipient(left.email), Recipient(disabled.email, partner_id=disabled.id),
        Recipient("not an address"), Recipient("eve@example.org\r\nBcc: x@example.org"),
    ])
    session.commit()
    assert result.queued == 1
    assert sorted(result.skipped) == sorted([left.email, disabled.email])
    assert len(result.invalid) == 2
    delivery = session.exec(select(Delivery)).one()
    assert delivery.partner_id == active.id  # matched by address


def test_enqueue_ten_thousand_in_batches(session, alliance):
    result = outbox.enqueue(session, _mail(), (Recipient(f"p{i}@example.org", values={"n": str(i)})
                                               for i in range(10_000)))
    session.commit()
    assert result.queued == 10_000
    assert outbox.counts(session)["queued"] == 10_000


def test_claim_leases_and_expired_leases_come_back(config, session, alliance):
    outbox.enqueue(session, _mail(), [Recipient(f"p{i}@example.org") for i in range(10)])
    session.commit()
    url = config.database_url
    with session_scope(url) as s:
        a = outbox.claim(s, "a", 6, lease_seconds=60)
    with session_scope(url) as s:
        b = outbox.claim(s, "b", 6, lease_seconds=60)
    assert len(a) == 6 and len(b) == 4
    assert not {d.id for d in a} & {d.id for d in b}
    with session_scope(url) as s:
        assert outbox.claim(s, "c", 6, lease_seconds=60) == []
        # worker a crashed: its leases run out
        for d in s.exec(select(Delivery).where(Delivery.leased_by == "a")):
            d.lease_until = utcnow() - timedelta(seconds=1)
            s.add(d)
    with session_scope(url) as s:
        c = outbox.claim(s, "c", 10, lease_seconds=60)
    assert sorted(d.id for d in c) == sorted(d.id for d in a)
    assert all(d.attempts == 2 and d.state == "sending" for d in c)


def test_concurrent_claims_in_threads_never_share_a_row(config, session, alliance):
    outbox.enqueue(session, _mail(), [Recipient(f"p{i}@example.org") for i in range(300)])
    session.commit()
    got: dict[str, list[int]] = {}

    def worker(name):
        ids = []
        while True:
            with unit_of_work(config) as s:
                rows = outbox.claim(s, name, 7, lease_seconds=60)
            if not rows:
                break
            ids += [d.id for d in rows]
        got[name] = ids

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for ids in got.values() for i in ids]
    assert len(claimed) == 300 and len(set(claimed)) == 300


def test_deferred_backoff_gives_up_and_retry(config, session, alliance):
    outbox.enqueue(session, _mail(), [Recipient("a@example.org"), Recipient("b@example.org")])
    session.commit()
    with unit_of_work(config) as s:
        a, b = outbox.claim(s, "w", 2, 60)
        b.created_at = utcnow() - timedelta(hours=config.outbox.give_up_hours + 1)
        assert outbox.mark_deferred(s, config, a, "451 4.3.0 later") is True
        assert outbox.mark_deferred(s, config, b, "451 4.3.0 later") is False
    session.expire_all()
    a, b = session.get(Delivery, a.id), session.get(Delivery, b.id)
    earliest = utcnow() + timedelta(seconds=config.outbox.retry_base_seconds / 2 - 5)
    assert a.state == "deferred" and a.next_attempt_at > earliest
    assert b.state == "failed" and "aufgegeben" in b.last_reply
    with unit_of_work(config) as s:
        assert outbox.claim(s, "w", 5, 60) == []  # a is not due yet
        assert outbox.retry(s, failed=True) == 1
        assert [d.id for d in outbox.claim(s, "w", 5, 60)] == [b.id]


def test_backoff_grows_and_is_capped(config):
    delays = [outbox.backoff(config, n).total_seconds() for n in range(1, 20)]
    base, cap = config.outbox.retry_base_seconds, config.outbox.retry_max_seconds
    assert base / 2 <= delays[0] <= base
    assert 4 * base / 2 <= delays[2] <= 4 * base
    assert all(d <= cap for d in delays) and max(delays) >= cap / 2


def test_claim_cancels_rows_of_partners_who_left_meanwhile(config, session, partners, alliance):
    partner = session.exec(select(Partner).where(Partner.left_at.is_(None))).first()
    outbox.enqueue(session, _mail(), [Recipient(partner.email), Recipient("x@example.org")])
    partner.left_at = utcnow()
    session.add(partner)
    session.commit()
    with unit_of_work(config) as s:
        cancelled = []
        rows = outbox.claim(s, "w", 5, 60, cancelled)
    assert [d.recipient for d in rows] == ["x@example.org"]
    assert [d.recipient for d in cancelled] == [partner.email]


def test_cli_list_show_retry_cancel_flush(hub, config, session, alliance):
    outbox.enqueue(session, _mail(), [Recipient(f"p{i}@example.org", name=f"Partner {i}") for i in range(3)])
    session.commit()
    ids = sorted(d.id for d in session.exec(select(Delivery)))
    listed = hub("outbox", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == ids
    assert hub("outbox", "cancel", str(ids[0])).returncode == 0
    shown = hub("outbox", "show", str(ids[0]), "--json")
    assert json.loads(shown.stdout)["state"] == "cancelled"
    flushed = hub("outbox", "flush", "--json")
    assert flushed.returncode == 0, flushed.stderr
    assert json.loads(flushed.stdout)["sent"] == 2
    assert len(list((config.data_dir / "outbox" / "new").iterdir())) == 2
    assert hub("outbox", "retry", str(ids[0])).returncode == 0
    assert json.loads(hub("outbox", "flush", "--json").stdout)["sent"] == 1
    assert "gesendet" in hub("outbox", "list", "--state", "sent").stdout
    bad = hub("outbox", "show", "999999")
    assert bad.returncode == 2 and "keine Zustellung 999999" in bad.stderr
    assert hub("outbox", "retry", str(ids[1])).returncode == 1  # already sent


def test_mail_queued_on_one_node_wakes_every_outbox_at_its_commit_and_only_then(config, alliance):
    """Several nodes on PostgreSQL: the queueing transaction NOTIFYs, each outbox process LISTENs, so a newsletter
    queued on one node is sent by all at once rather than at each one's next poll."""
    if not wakeup.listens(config.database_url):
        pytest.skip("several nodes share one PostgreSQL database; this pass runs on SQLite (one node, it polls)")
    wake, stop = threading.Event(), threading.Event()
    listener = threading.Thread(target=wakeup.listen, args=(config.database_url, wake, stop), daemon=True)
    listener.start()
    try:
        assert wake.wait(10), "the listener did not connect"
        wake.clear()
        with pytest.raises(RuntimeError), unit_of_work(config) as s:
            outbox.enqueue(s, _mail(source_ref="newsletter:rolled-back"), [Recipient("p1@example.org")])
            raise RuntimeError("the transaction fails after queueing")
        assert not wake.wait(1.5), "woken by mail that was never committed"
        with unit_of_work(config) as s:
            assert outbox.enqueue(s, _mail(source_ref="newsletter:2"), [Recipient("p2@example.org")]).queued == 1
            s.flush()
            assert not wake.wait(1.0), "woken before the commit"
        assert wake.wait(5), "the commit did not wake the outbox"
    finally:
        stop.set()
        listener.join(10)
    assert not listener.is_alive()


def test_an_outbox_listening_on_a_database_that_goes_away_polls_and_listens_again(config):
    if not wakeup.listens(config.database_url):
        pytest.skip("several nodes share one PostgreSQL database; this pass runs on SQLite (one node, it polls)")
    wake, stop = threading.Event(), threading.Event()
    unreachable = sa.engine.make_url(config.database_url).set(host="127.0.0.1", port=9)  # nothing listens there
    listener = threading.Thread(target=wakeup.listen, args=(unreachable.render_as_string(False), wake, stop),
                                kwargs={"retry_s": 0.1}, daemon=True)
    listener.start()
    time.sleep(0.5)
    assert listener.is_alive() and not wake.is_set()  # no crash: it tries again
    stop.set()
    listener.join(10)
    assert not listener.is_alive()
