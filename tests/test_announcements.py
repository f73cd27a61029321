"""An invitation with its agenda or a reminder sent to the protocol address is recorded, not filed as the group's
protocol (issue 16); a protocol that also invites to the next meeting stays a protocol."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from test_ingest import WEISS

from hub import filing
from hub.inbound.classify import classify
from hub.inbound.parse import parse

PROTOCOLS = "protokolle@buendnis-musterhausen.example"

INVITATION = """Liebe Mitglieder der AG Gesundheit,

hiermit lade ich Sie herzlich zu unserer nächsten Sitzung ein:

Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen

Tagesordnung:
TOP 1: Begrüßung
TOP 2: Genehmigung des Protokolls der letzten Sitzung
TOP 3: Planung Gesundheitstag
TOP 4: Verschiedenes

Bitte geben Sie bis zum 14.04. Bescheid, ob Sie teilnehmen.

Viele Grüße
Jürgen Weiß"""

REMINDER = """Hallo zusammen,

ich möchte euch noch einmal an unser Treffen morgen um 17 Uhr im Rathaus, Raum 2.14, erinnern.

Bis morgen!
Jürgen"""

PROTOCOL_THAT_INVITES = """Liebe Kolleginnen und Kollegen,

anbei das Protokoll; zugleich lade ich Sie herzlich zur nächsten Sitzung am 21.04.2026 ein.

Anwesend: Dr. Jürgen Weiß, Aylin Yılmaz, Maria Öztürk

TOP 1: Gesundheitstag
Es wurde vereinbart, dass Frau Öztürk die Flyer gestaltet.

Nächstes Treffen: 21.04.2026, 18:00 Uhr, Familienzentrum Regenbogen"""


def mail(subject: str, body: str, attachments: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Dr. Jürgen Weiß <{WEISS}>"
    msg["To"] = PROTOCOLS
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash((subject, body)))}@gesundheitsamt-musterhausen.example>"
    msg.set_content(body)
    for filename, data in attachments:
        msg.add_attachment(data, maintype="text", subtype="plain", filename=filename)
    return msg.as_bytes()


def kind(raw: bytes) -> str:
    return classify(raw, parse(raw)).kind


@pytest.mark.parametrize(("subject", "body"), [
    ("Einladung zur Sitzung der AG Gesundheit am 21.04.2026", INVITATION),
    ("Nächste Sitzung AG Gesundheit", INVITATION),  # the text invites
    ("WG: Einladung zur Sitzung der AG Gesundheit", INVITATION),
    ("Erinnerung: Treffen morgen 17 Uhr", REMINDER),
    ("Treffen morgen", REMINDER),
    ("Save the date: Gesundheitstag 2026", "Bitte merken Sie sich den 12. Juni vor. Die Einladung folgt."),
])
def test_invitations_and_reminders_are_no_protocols(subject, body):
    raw = mail(subject, body)
    result = classify(raw, parse(raw))
    assert (result.kind, result.reason) == ("other", "Einladung oder Erinnerung zu einem Treffen, kein Protokoll.")


@pytest.mark.parametrize(("subject", "body", "attachments"), [
    ("Protokoll und Einladung AG Gesundheit", INVITATION, ()),  # the subject says it holds a protocol
    ("Ergebnisprotokoll AG Gesundheit vom 10.03.2026", PROTOCOL_THAT_INVITES, ()),
    ("Nächste Sitzung", PROTOCOL_THAT_INVITES, ()),  # invites, but records a meeting: who came, what was agreed
    ("Einladung zur nächsten Sitzung", INVITATION, (("Protokoll 10.03.2026.txt", b"Anwesend: alle"),)),
    ("Sitzung vom 10.03.", "Anbei die Ergebnisse. Es wurde beschlossen, den Gesundheitstag im Juni zu machen.", ()),
])
def test_mail_that_records_a_meeting_stays_a_protocol(subject, body, attachments):
    assert kind(mail(subject, body, attachments)) == "protocol"


def test_an_invitation_to_the_protocol_address_is_recorded_not_filed_or_receipted(config, partners):
    result = filing.ingest_bytes(config, mail("Einladung zur Sitzung der AG Gesundheit am 21.04.2026", INVITATION),
                                 via="smtp", envelope_to=[PROTOCOLS])
    assert (result.data["kind"], result.status) == ("other", "recorded")
    assert result.data.get("group") is None


def test_an_answer_to_an_invitation_is_left_to_the_reply_check():
    assert kind(mail("AW: Einladung zur Sitzung der AG Gesundheit am 21.04.2026", "Ich komme gern.\n\n> "
                     + INVITATION.replace("\n", "\n> "))) == "protocol"
