"""Follow-up composes its mails in a transaction that only reads and queues them in a short one (SQLite's one
write lock stays free for filing meanwhile); what changed in between is composed again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlmodel import select
from test_ingest import WEISS, mail

from hub import filing, follow_up
from hub.alliance import unit_of_work
from hub.db import read_scope
from hub.inbound import spool
from hub.models import Delivery, InboundMessage, MessageStatus, OutboundMail

PROTOCOLS = "protokolle@buendnis-musterhausen.example"
YILMAZ = "a.yilmaz@awo-musterhausen.example"


def test_a_reading_transaction_does_not_keep_a_writer_waiting(config, alliance):
    done = threading.Event()
    with read_scope(config.database_url) as reading:
        reading.exec(select(InboundMessage)).all()

        def write():
            with unit_of_work(config) as session:
                session.execute(sa.text("UPDATE alliance SET name = name"))
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        # While the reading transaction is still open, the writer got the lock and committed.
        assert done.wait(10)
        writer.join()


def _filed(config, n: int) -> InboundMessage:
    entry = spool.write(config.data_dir, mail(message_id=f"<ahead-{n}@example.org>"), via="smtp",
                        envelope_to=[PROTOCOLS])
    filing.process_entries(config, [entry])
    with unit_of_work(config) as session:
        return session.exec(select(InboundMessage).where(InboundMessage.message_id == f"<ahead-{n}@example.org>")).one()


def _mail_kinds(config) -> list[str]:
    with unit_of_work(config) as session:
        return sorted(m.kind for m in session.exec(select(OutboundMail)))


def test_mails_composed_ahead_are_queued(config, partners):
    _filed(config, 1)
    assert follow_up.follow_up(config) == 1
    assert _mail_kinds(config) == ["receipt", "relay"]


def test_a_protocol_held_between_composing_and_queueing_gets_no_receipt(config, partners, monkeypatch):
    if config.database_url.startswith("postgresql"):
        pytest.skip("on PostgreSQL mails are composed in the transaction that queues them: there is no between")
    message = _filed(config, 2)
    compose_ahead = follow_up._compose_ahead

    def then_a_coordinator_holds_it(*args):
        composed = compose_ahead(*args)
        with unit_of_work(config) as session:
            row = session.get(InboundMessage, message.id)
            row.status, row.reason = MessageStatus.held, "zurückgehalten"
            session.add(row)
        return composed

    monkeypatch.setattr(follow_up, "_compose_ahead", then_a_coordinator_holds_it)
    assert follow_up.follow_up(config) == 1
    assert _mail_kinds(config) == []  # a held protocol is neither receipted nor relayed


def test_a_batch_of_protocols_of_several_groups_relays_each_to_its_own_group(config, partners):
    """Follow-up reads each group's readers once per batch: a protocol of one group must not get the readers
    of another, and no sender gets their own relay back."""
    sent = [("gesundheit", WEISS), ("erziehungslotsen", YILMAZ), ("gesundheit", YILMAZ)]
    entries = [spool.write(config.data_dir, mail(sender=sender, to=f"protokolle+{group}@buendnis-musterhausen.example",
                                                 message_id=f"<batch-{n}@example.org>"),
                           via="smtp", envelope_to=[f"protokolle+{group}@buendnis-musterhausen.example"])
               for n, (group, sender) in enumerate(sent)]
    filing.process_entries(config, entries)

    assert follow_up.follow_up(config) == 3

    with unit_of_work(config) as session:
        message_ids = {f"relay:{m.id}": m.message_id for m in session.exec(select(InboundMessage))}
        relayed: dict[str, set[str]] = {}
        for source_ref, recipient in session.exec(
                select(OutboundMail.source_ref, Delivery.recipient).join(Delivery, Delivery.mail_id == OutboundMail.id)
                .where(OutboundMail.kind == "relay")):
            relayed.setdefault(message_ids[source_ref.rpartition(":")[0]], set()).add(recipient)
    assert relayed == {
        "<batch-0@example.org>": {YILMAZ},
        "<batch-1@example.org>": {"m.oeztuerk@familienzentrum-regenbogen.example", "s.wagner@musterhausen.example"},
        "<batch-2@example.org>": {WEISS},
    }


def _deliveries(config) -> list[tuple[str, str]]:
    with unit_of_work(config) as session:
        return sorted(session.exec(select(OutboundMail.source_ref, Delivery.dedupe_key)
                                   .join(Delivery, Delivery.mail_id == OutboundMail.id)).all())


@contextmanager
def _delivery_inserts() -> Iterator[list[str]]:
    """The INSERT statements into `delivery` run meanwhile."""
    inserts: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO delivery"):
            inserts.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        yield inserts
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)


def test_a_batch_composed_ahead_is_queued_in_one_insert(config, partners):
    """A batch's receipts and relays go in with one INSERT of their deliveries, not one per mail (on SQLite
    queueing holds the one write lock that filing waits for)."""
    for n in range(4):
        _filed(config, 10 + n)
    with _delivery_inserts() as inserts:
        assert follow_up.follow_up(config) == 4
    assert len(inserts) == 1
    assert _mail_kinds(config) == ["receipt"] * 4 + ["relay"] * 4
    assert len(_deliveries(config)) == len(set(_deliveries(config))) > 4


def test_a_protocol_that_fails_in_a_batch_goes_to_quarantine_and_the_others_get_their_mails_once(
        config, partners, monkeypatch):
    messages = [_filed(config, 20 + n) for n in range(3)]
    record = follow_up.tasks.record_from_protocol

    def fails_for_the_second(session, config, message):
        if message.id == messages[1].id:
            raise ValueError("a bug")
        return record(session, config, message)

    monkeypatch.setattr(follow_up.tasks, "record_from_protocol", fails_for_the_second)
    assert follow_up.follow_up(config) == 3
    with unit_of_work(config) as session:
        rows = {m.id: m for m in session.exec(select(InboundMessage))}
    assert [(rows[m.id].status, rows[m.id].error_stage) for m in messages] == [
        ("filed", None), ("quarantined", "follow-up"), ("filed", None)]
    assert all(rows[m.id].followed_up_at is not None for m in messages)
    queued = _deliveries(config)
    assert {ref.rpartition(":")[0] for ref, _ in queued} == {
        f"{kind}:{messages[i].id}" for kind in ("receipt", "relay") for i in (0, 2)}
    assert len(queued) == len(set(queued))
    assert _mail_kinds(config) == ["receipt", "receipt", "relay", "relay"]


def test_a_protocol_filed_between_composing_and_queueing_waits_for_the_next_round(config, partners, monkeypatch):
    """The batch composed ahead is queued with one INSERT all the same: a protocol filed meanwhile used to send
    the whole batch the slow way (each protocol composed again, in the transaction that holds the write lock)."""
    if config.database_url.startswith("postgresql"):
        pytest.skip("on PostgreSQL mails are composed in the transaction that queues them: there is no between")
    for n in range(2):
        _filed(config, 30 + n)
    compose_ahead = follow_up._compose_ahead

    def then_another_is_filed(*args):
        ahead = compose_ahead(*args)
        _filed(config, 40)
        return ahead

    monkeypatch.setattr(follow_up, "_compose_ahead", then_another_is_filed)
    with _delivery_inserts() as inserts:
        assert follow_up.follow_up(config) == 2
    assert len(inserts) == 1
    monkeypatch.setattr(follow_up, "_compose_ahead", compose_ahead)
    assert follow_up.follow_up(config) == 1
    assert follow_up.follow_up(config) == 0
    assert _mail_kinds(config) == ["receipt"] * 3 + ["relay"] * 3
    assert len(_deliveries(config)) == len(set(_deliveries(config)))
