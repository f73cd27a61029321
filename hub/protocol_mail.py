"""The mails a filed protocol gets: the sender's receipt and the relay to the group (per its `relay` policy).

Each is composed first (`receipt`, `relays`: they only read, so `hub.follow_up` composes them outside the
transaction that queues them) and then queued (`send_receipt`, `relay_protocol`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from hub.addresses import InvalidAddress, address_key, normalise_address
from hub.compose.render import by_locale, compose, locale_for, office_mail
from hub.config import Config
from hub.mailings import is_robot_address, pseudonym
from hub.models import (
    Group,
    InboundMessage,
    Membership,
    MessageAttachment,
    MessageKind,
    MessageStatus,
    OutboundMail,
    Partner,
)
from hub.outbound import outbox

RELAY_TEXT_LIMIT = 30_000


@dataclass
class Composed:
    """A mail made for its recipients and not yet queued: composing only reads, so it can be done before the
    transaction that queues it (hub/follow_up.py)."""

    mail: OutboundMail
    recipients: list[outbox.Recipient]


def _own_address(config: Config, address: str) -> bool:
    return address_key(address).rpartition("@")[2] == config.alliance.domain


# --- receipts -----------------------------------------------------------------------------------------


def send_receipt(session: Session, config: Config, message: InboundMessage) -> outbox.EnqueueResult | None:
    """Tell the sender that the protocol was filed under its group, and what was recognised (`receipt`)."""
    made = receipt(session, config, message)
    return outbox.enqueue(session, made.mail, made.recipients) if made else None


def receipt(session: Session, config: Config, message: InboundMessage) -> Composed | None:
    """The receipt for a filed protocol, composed (only reading): `send_receipt` queues it.

    Only to a partner in the registry whose mail passed the sender check, and only for a filed protocol: an
    answer to an unknown, unauthenticated or held sender may go to a forged address (backscatter). A held
    protocol gets its receipt when the Geschäftsstelle files it. Never to robots or the hub's own domain.
    """
    if message.kind != MessageKind.protocol or message.status != MessageStatus.filed or message.group_id is None:
        return None
    if message.partner_id is None or message.sender_verified is False:
        return None
    if is_robot_address(message.sender) or is_robot_address(message.envelope_from or message.sender):
        return None
    try:
        address = normalise_address(message.sender)
    except InvalidAddress:
        return None
    if _own_address(config, address):
        return None
    partner = session.get(Partner, message.partner_id)
    group = session.get(Group, message.group_id)
    context = {
        "name": (partner.name if partner else "") or message.sender_name,
        "group": group.name,
        "protocol_subject": message.subject or "",
        "received_at": message.received_at,
        "meeting_date": message.meeting_date,
        "next_meeting": message.next_meeting_start,
        "next_meeting_location": message.next_meeting_location,
        "tasks": message.tasks,
        "relay": _relay_policy(config, group),
    }
    locale = locale_for(config, partner.language if partner else None)
    composed = compose("receipt", context, locale, config)
    headers = {"Auto-Submitted": "auto-replied"}
    if message.message_id:
        reference = message.message_id if message.message_id.startswith("<") else f"<{message.message_id}>"
        headers |= {"In-Reply-To": reference, "References": reference}
    mail = office_mail(config, "receipt", composed, f"receipt:{message.id}:filed", headers=headers)
    return Composed(mail, [outbox.Recipient(
        address=address, name=context["name"], partner_id=partner.id if partner else None,
        dedupe_key=f"receipt:{message.id}:filed|{pseudonym(config, address)}",
    )])


def _relay_policy(config: Config, group: Group) -> str:
    """What happens to the protocol next, for the receipt to say in the sender's language."""
    spec = config.group_by_slug(group.slug)
    return spec.relay if spec else "none"


# --- relays -------------------------------------------------------------------------------------------


def relay_protocol(session: Session, config: Config, message: InboundMessage, readers: Readers | None = None
                   ) -> outbox.EnqueueResult | None:
    """Pass a filed protocol on per its group's `relay` policy: `group`/`all` now, `digest`/`none` not now."""
    made = relays(session, config, message, readers)
    if not made:
        return None
    total = outbox.EnqueueResult(mail_id=0)
    for one in made:
        result = outbox.enqueue(session, one.mail, one.recipients)
        total.mail_id = total.mail_id or result.mail_id
        total.queued += result.queued
        total.duplicates += result.duplicates
        total.skipped += result.skipped
    return total


Readers = dict[tuple[int, str], list[Partner]]  # a group's readers by (group id, relay policy), read once per batch


def relays(session: Session, config: Config, message: InboundMessage, readers: Readers | None = None
           ) -> list[Composed]:
    """The relay of a filed protocol, one mail per language of its readers, composed (only reading). A batch
    of protocols passes the same `readers` to each, so that a group's readers are read once for it."""
    if message.kind != MessageKind.protocol or message.status != MessageStatus.filed or message.group_id is None:
        return []
    group = session.get(Group, message.group_id)
    spec = config.group_by_slug(group.slug) if group else None
    if spec is None or spec.relay not in ("group", "all"):
        return []
    if readers is None:
        readers = {}
    if (group.id, spec.relay) not in readers:
        readers[group.id, spec.relay] = _readers(session, group, spec.relay)
    sender_key = address_key(message.sender) if message.sender else None
    people = [p for p in readers[group.id, spec.relay] if p.email_key != sender_key]
    if not people:
        return []
    rows = session.exec(select(MessageAttachment).where(
        MessageAttachment.message_id == message.id, MessageAttachment.inline.is_(False),
    ).order_by(MessageAttachment.position)).all()
    attachments = [{"blob": a.blob_sha256, "filename": a.filename or "anhang", "content_type": a.content_type}
                   for a in rows]
    sender = session.get(Partner, message.partner_id) if message.partner_id else None
    text = message.text if len(message.text) <= RELAY_TEXT_LIMIT else message.text[:RELAY_TEXT_LIMIT] + "\n[…]"
    made = []
    for locale, recipients in by_locale(config, people).items():
        context = {
            "group": group.name, "protocol_subject": message.subject or "Protokoll",
            "sender_name": (sender.name if sender else "") or message.sender_name,
            "meeting_date": message.meeting_date, "next_meeting": message.next_meeting_start,
            "next_meeting_location": message.next_meeting_location, "tasks": message.tasks, "text": text,
            "attachments": [a["filename"] for a in attachments],
            "attachments_included": spec.relay_attachments,
        }
        mail = office_mail(config, "relay", compose("relay", context, locale, config), f"relay:{message.id}:{locale}")
        if spec.relay_attachments:
            mail.attachments = attachments
        made.append(Composed(mail, [
            outbox.Recipient(address=p.email, name=p.name, partner_id=p.id,
                             dedupe_key=f"relay:{message.id}|{pseudonym(config, p.email)}") for p in recipients
        ]))
    return made


def _readers(session: Session, group: Group, relay: str) -> list[Partner]:
    """Who gets a group's relays: its members (`group`) or every partner (`all`) whose address works."""
    query = select(Partner).where(
        Partner.alliance_id == group.alliance_id, Partner.left_at.is_(None), Partner.forgotten_at.is_(None),
        Partner.disabled_at.is_(None), Partner.email.is_not(None),
    )
    if relay == "group":
        members = select(Membership.partner_id).where(Membership.group_id == group.id, Membership.until.is_(None))
        query = query.where(Partner.id.in_(members))
    return list(session.exec(query.order_by(Partner.id)))
