"""The owner of a task answers its reminder with "erledigt": the task is done — only the owner's own,
authenticated mail closes it (issue 16)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
import time_machine
from sqlmodel import select
from test_sender_auth import AR_TRUSTED, checking
from test_task_reminders import BERLIN, WEISS, YILMAZ, owned  # noqa: F401  (fixture)

from hub import delivery as delivery_module
from hub import filing, sends
from hub.models import Delivery, GroupTask, InboundMessage, OutboundMail

SENT = datetime(2027, 1, 12, 9, 0, 1, tzinfo=BERLIN)


@pytest.fixture
def reminded(owned, config, session):  # noqa: F811
    """Frau Yılmaz's reminder for "Flyer drucken" went out; returns (task, the reminder's Message-ID)."""
    flyer = owned["Flyer drucken"]
    with time_machine.travel(SENT, tick=True):
        assert sends.execute(config, f"task:{flyer.id}:reminder@2027-01-15") is not None
        delivery_module.flush(config)  # into the Maildir outbox: now it has its Message-ID
    session.expire_all()
    delivery = session.exec(select(Delivery).join(OutboundMail, OutboundMail.id == Delivery.mail_id)
                            .where(OutboundMail.kind == "task_reminder")).one()
    assert delivery.state == "sent" and delivery.smtp_message_id
    return flyer, delivery.smtp_message_id


def _reply(sender: str, name: str, answered: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "geschaeftsstelle@buendnis-musterhausen.example"
    msg["Subject"] = "AW: Erinnerung: Flyer drucken bis 15.01.2027"
    msg["Date"] = format_datetime(SENT)
    msg["Message-ID"] = f"<antwort-{sender.split('@')[0]}@example.org>"
    msg["In-Reply-To"] = answered
    msg.set_content(body + "\n\n> Guten Tag,\n> bitte antworten Sie mit „erledigt“, wenn die Aufgabe erledigt ist.\n")
    return msg.as_bytes()


def _ingest(config, raw: bytes, sender: str, **kwargs):
    return filing.ingest_bytes(config, raw, via="smtp", envelope_from=sender,
                               envelope_to=["geschaeftsstelle@buendnis-musterhausen.example"], **kwargs)


def _state(session, task) -> tuple[str, str | None]:
    session.expire_all()
    row = session.get(GroupTask, task.id)
    return row.state, row.closed_by


def test_the_owners_erledigt_closes_the_task(reminded, config, session):
    task, answered = reminded
    result = _ingest(config, _reply(YILMAZ, "Aylin Yılmaz", answered, "Erledigt, die Flyer liegen im Büro."), YILMAZ)
    state, closed_by = _state(session, task)
    assert state == "done" and closed_by.startswith("reply:")
    message = session.get(InboundMessage, result.data["id"])
    assert (message.kind, message.status) == ("reply", "recorded")
    assert "als erledigt gemeldet" in message.reason


def test_someone_else_saying_erledigt_closes_nothing(reminded, config, session):
    task, answered = reminded
    result = _ingest(config, _reply(WEISS, "Dr. Jürgen Weiß", answered, "erledigt"), WEISS)
    assert _state(session, task) == ("open", None)
    message = session.get(InboundMessage, result.data["id"])
    assert (message.kind, message.status) == ("reply", "held")  # waits for the office, as any reply


def test_a_reply_that_does_not_say_erledigt_closes_nothing(reminded, config, session):
    task, answered = reminded
    _ingest(config, _reply(YILMAZ, "Aylin Yılmaz", answered, "Ich brauche noch eine Woche."), YILMAZ)
    assert _state(session, task) == ("open", None)


def test_a_forged_erledigt_that_fails_the_sender_check_closes_nothing(reminded, config, session, dns_server):
    task, answered = reminded
    config = checking(config, dns_server, sender_check="trusted-header", trusted_authserv_id=AR_TRUSTED)
    result = _ingest(config, _reply(YILMAZ, "Aylin Yılmaz", answered, "erledigt"), YILMAZ,
                     peer="192.0.2.7", helo="mail.evil.example")
    assert session.get(InboundMessage, result.data["id"]).sender_verified is False
    assert _state(session, task) == ("open", None)
