"""Quarantine instead of crash: a message that makes any step of filing raise is kept with the step, the error
and the time, filing goes on with the next, and the Geschäftsstelle can retry or reject it (CLI and web).

The faults are forced with `hub.failpoints` (`raise:<step>`), as a bug in that step would raise.
"""

from __future__ import annotations

import functools

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import select
from test_ingest import WEISS, mail
from test_web import app as app  # noqa: PLC0414 — the signed-in web admin's fixture, used below
from test_web import client, csrf_of, sign_in

from hub import filing, filing_steps, follow_up, quarantine, steps
from hub.db import alembic_config, engine_for
from hub.failpoints import armed
from hub.inbound import spool
from hub.models import Delivery, InboundMessage, MessageAttachment, OutboundMail

PROTOCOLS = "protokolle@buendnis-musterhausen.example"
STEPS = [steps.PARSE, steps.CLASSIFY, steps.ROUTE, steps.EXTRACT, steps.STORE,
         steps.ATTACHMENTS]
BOUNCE = (
    "From: MAILER-DAEMON@mx.example.org\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    "Message-ID: <dsn-q@mx.example.org>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
    "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
    "Final-Recipient: rfc822; {to}\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
)


@functools.cache  # one multipart boundary per message, as a resent mail keeps its bytes
def protocol(n: int) -> bytes:
    return mail(message_id=f"<q-{n}@gesundheitsamt-musterhausen.example>",
                attachments=[("protokoll.txt", "text/plain", "Nächstes Treffen: 21.04.2026".encode())])


def rows(session) -> list[InboundMessage]:
    session.expire_all()
    return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


@pytest.mark.parametrize("step", STEPS)
def test_a_step_that_raises_quarantines_that_message_and_filing_goes_on(session, config, partners, step):
    with armed(f"raise:{step}"):
        first = filing.ingest_bytes(config, protocol(1), via="smtp", envelope_to=[PROTOCOLS])
    second = filing.ingest_bytes(config, protocol(2), via="smtp", envelope_to=[PROTOCOLS])
    assert first.status == "quarantined" and second.status == "filed"
    assert spool.pending(config.data_dir) == []
    bad, good = rows(session)
    assert (bad.status, bad.error_stage, bad.kind) == ("quarantined", step, "other")
    assert bad.error == f"InjectedFault: fault injected at {step}" and bad.error_at is not None
    assert steps.stage_name(step) in bad.reason and "nicht verarbeitet" in bad.reason
    assert (config.data_dir / bad.raw_path).read_bytes() == protocol(1)  # the raw mail is kept
    assert session.exec(select(MessageAttachment).where(MessageAttachment.message_id == bad.id)).all() == []
    if step != steps.PARSE:
        assert bad.sender == WEISS and bad.subject.startswith("Ergebnisprotokoll")
    assert good.status == "filed" and good.followed_up_at is not None


@pytest.mark.parametrize(("step", "function"), [(steps.CLASSIFY, "classify"), (steps.EXTRACT, "extract")])
def test_a_step_done_before_the_transaction_that_raises_quarantines_only_its_message(session, config, partners,
                                                                                      monkeypatch, step, function):
    """Classifying and extracting run before the batch's transaction (filing_steps.understand_ahead); what they raise
    is raised again at their step, for that message only."""
    real = getattr(filing_steps, function)

    def flaky(*args):
        parsed = args[1] if function == "classify" else args[0]  # classify(raw, parsed), extract(parsed, tz)
        if "q-11@" in (parsed.message_id or ""):
            raise ValueError("a bug")
        return real(*args)

    monkeypatch.setattr(filing_steps, function, flaky)
    entries = [spool.write(config.data_dir, protocol(n), via="smtp", envelope_to=[PROTOCOLS]) for n in (10, 11, 12)]
    results = filing.process_entries(config, entries)
    assert [r.status for r in results] == ["filed", "quarantined", "filed"]
    bad = rows(session)[1]
    assert (bad.error_stage, bad.error) == (step, "ValueError: a bug")


@pytest.fixture
def refusing(session):
    """A trigger that makes the database refuse the row of a message whose subject holds "Verweigert"; dropped
    after the test (a PostgreSQL test database is only emptied between tests, its triggers would stay)."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(sa.text("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.subject LIKE "
                             "'%Verweigert%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ "
                             "LANGUAGE plpgsql"))
        session.exec(sa.text("CREATE TRIGGER refuse BEFORE INSERT ON inboundmessage "
                             "FOR EACH ROW EXECUTE FUNCTION refuse()"))
        drop = ["DROP TRIGGER refuse ON inboundmessage", "DROP FUNCTION refuse()"]
    else:
        session.exec(sa.text("CREATE TRIGGER refuse BEFORE INSERT ON inboundmessage WHEN NEW.subject LIKE "
                             "'%Verweigert%' BEGIN SELECT RAISE(ABORT, 'refused'); END"))
        drop = ["DROP TRIGGER refuse"]
    session.commit()
    yield
    session.rollback()
    for statement in drop:
        session.exec(sa.text(statement))
    session.commit()


def test_a_row_the_database_refuses_quarantines_that_message_and_its_batch_is_filed(session, config, partners,
                                                                                     refusing):
    """A batch's rows go to the database in one flush at its end: the one refused there makes the batch go again,
    each message in a savepoint of its own, so only that one is kept in quarantine."""
    raws = [mail(message_id=f"<r-{n}@gesundheitsamt-musterhausen.example>",
                 subject=f"Ergebnisprotokoll AG Gesundheit {n}" + (" Verweigert" if n == 2 else "")) for n in (1, 2, 3)]
    entries = [spool.write(config.data_dir, raw, via="smtp", envelope_to=[PROTOCOLS]) for raw in raws]
    results = filing.process_entries(config, entries)
    assert [r.status for r in results] == ["filed", "quarantined", "filed"]
    assert spool.pending(config.data_dir) == []
    first, refused, third = rows(session)
    assert (first.subject, third.subject) == ("Ergebnisprotokoll AG Gesundheit 1", "Ergebnisprotokoll AG Gesundheit 3")
    assert (refused.status, refused.error_stage) == ("quarantined", steps.STORE)
    assert "refused" in refused.error
    assert (config.data_dir / refused.raw_path).read_bytes() == raws[1]  # the raw mail is the record


def test_a_fault_in_the_bounce_bookkeeping_quarantines_the_report(session, config, partners):
    with armed("raise:bounce"):
        result = filing.ingest_bytes(config, BOUNCE.format(to=partners[0].email).encode(), via="smtp",
                                     envelope_from="", envelope_to=[PROTOCOLS])
    assert result.status == "quarantined"
    [report] = rows(session)
    assert report.error_stage == "bounce"


def test_a_fault_in_the_follow_up_quarantines_the_protocol_without_its_mails(session, config, partners):
    with armed("raise:follow-up"):
        filing.ingest_bytes(config, protocol(1), via="smtp", envelope_to=[PROTOCOLS])
    filing.ingest_bytes(config, protocol(2), via="smtp", envelope_to=[PROTOCOLS])
    bad, good = rows(session)
    assert (bad.status, bad.error_stage) == ("quarantined", "follow-up")
    assert good.status == "filed"
    receipts = session.exec(select(OutboundMail).where(OutboundMail.kind == "receipt")).all()
    assert len(receipts) == 1  # only the good protocol's; the failed one's mails were rolled back


def test_retry_files_a_quarantined_message_and_follows_it_up(session, config, partners):
    with armed("raise:extract"):
        filing.ingest_bytes(config, protocol(1), via="smtp", envelope_to=[PROTOCOLS])
    [message] = rows(session)
    with armed("raise:route"):  # not fixed yet: stays, with the new step
        again = quarantine.retry(session, config, message.id)
        session.commit()
    assert (again.status, again.error_stage) == ("quarantined", "route")
    message = quarantine.retry(session, config, message.id)  # "after the upgrade"
    session.commit()
    [message] = rows(session)
    assert (message.status, message.error, message.error_stage) == ("filed", None, None)
    assert message.next_meeting_start.startswith("2026-04-21")
    assert len(session.exec(select(MessageAttachment).where(MessageAttachment.message_id == message.id)).all()) == 1
    assert message.followed_up_at is not None
    assert session.exec(select(OutboundMail).where(OutboundMail.kind == "receipt")).first() is not None
    assert follow_up.follow_up(config) == 0


def test_cli_lists_retries_and_rejects_quarantined_mail(hub, config, partners):
    with armed("raise:classify"):
        filing.ingest_bytes(config, protocol(1), via="smtp", envelope_to=[PROTOCOLS])
        filing.ingest_bytes(config, protocol(2), via="smtp", envelope_to=[PROTOCOLS])
    held = hub("protocols", "list", "--held")
    assert held.returncode == 0 and held.stdout.count("nicht verarbeitet") == 2, held.stdout
    shown = hub("protocols", "show", "1")
    assert "Einordnen" in shown.stdout and "InjectedFault" in shown.stdout
    refused = hub("protocols", "assign", "1", "gesundheit")
    assert refused.returncode == 1 and "protocols retry 1" in refused.stderr
    assert hub("protocols", "reject", "2").returncode == 0
    retried = hub("protocols", "retry", "--all")
    assert retried.returncode == 0 and "abgelegt" in retried.stdout, retried.stdout + retried.stderr
    assert hub("protocols", "list", "--held").stdout.count("nicht verarbeitet") == 0
    assert hub("protocols", "retry", "1").returncode == 1  # filed now: nothing to retry
    assert hub("protocols", "retry").returncode == 2  # neither IDs nor --all


def test_web_review_shows_quarantined_mail_and_retries_it(app, config, session, partners):
    with armed("raise:extract"):
        filing.ingest_bytes(config, protocol(1), via="smtp", envelope_to=[PROTOCOLS])
    c = sign_in(app)
    review = c.get("/review")
    assert "konnte nicht verarbeitet werden" in review.text and "Auslesen von Terminen" in review.text
    page = c.get("/messages/1")
    assert "Erneut verarbeiten" in page.text and "Zuordnen und ablegen" not in page.text
    response = c.post("/messages/1/retry", data={"csrf": csrf_of(page)})
    assert response.status_code == 303
    [message] = rows(session)
    assert message.status == "filed"
    assert session.exec(select(Delivery)).first() is not None  # the receipt is on its way
    assert client(app).post("/messages/1/retry").status_code in (303, 400, 403)  # not signed in: never a retry


def test_migration_0003_keeps_the_messages_of_a_database_made_at_0002(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0002")
    with engine_for(url).begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO inboundmessage (message_id, content_hash, raw_path, size, received_at, received_via, "
            "envelope_to, sender_name, subject, kind, status, reason, text, attendees, tasks, defects) VALUES "
            "('<m@x>', 'h', 'messages/h.eml', 1, '2026-01-01 00:00:00', 'smtp', '[]', '', 'S', 'protocol', 'held', "
            "'', '', '[]', '[]', '[]')")
    command.upgrade(alembic_config(url), "0003")
    with engine_for(url).connect() as conn:  # the model has the columns of later revisions: plain SQL
        rows = conn.exec_driver_sql("SELECT status, error_stage, error_at FROM inboundmessage").all()
    assert [tuple(row) for row in rows] == [("held", None, None)]
    engine_for(url).dispose()
