"""Store: attachments into content-addressed blobs, results into rows (the files themselves: hub.inbound.archive).

`new_row` and `describe` are the two ends of a stored message: the row built from what was parsed, and the
description `hub ingest --json` and `hub protocols show --json` print.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session, select

from hub import durable
from hub.addresses import address_key
from hub.inbound.archive import blob_path
from hub.inbound.message import Attachment, Directory, Extraction, GroupEntry, ParsedMessage, SenderEntry
from hub.inbound.spool import SpoolEntry
from hub.models import (
    Alliance,
    Blob,
    BounceEvent,
    Group,
    InboundMessage,
    Membership,
    MessageAttachment,
    MessageKind,
    MessageStatus,
    Partner,
)
from hub.rows import build


def storable(text: str | None) -> str | None:
    """Text as every database keeps it: PostgreSQL refuses NUL characters, which broken mailers do send."""
    return text.replace("\x00", "\ufffd") if text else text


def store_blob(session: Session, data_dir: Path, attachment: Attachment) -> Blob:
    blob = session.get(Blob, attachment.sha256)
    if blob is not None:
        return blob
    relative = blob_path(attachment.sha256)
    target = data_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        durable.replace(target, attachment.data)
    blob = Blob(
        sha256=attachment.sha256,
        size=attachment.size,
        content_type=storable(attachment.content_type),
        path=relative,
        text=storable(attachment.text),
        error=storable(attachment.error),
    )
    session.add(blob)
    return blob


def attach(session: Session, data_dir: Path, message: InboundMessage, attachments: list[Attachment]) -> None:
    for position, attachment in enumerate(attachments):
        store_blob(session, data_dir, attachment)
        session.add(MessageAttachment(
            message_id=message.id,
            blob_sha256=attachment.sha256,
            filename=storable(attachment.filename),
            content_type=storable(attachment.content_type),
            inline=attachment.inline,
            position=position,
        ))


def detach(session: Session, message: InboundMessage) -> None:
    """Forget which attachments the message has (before it is filed again); the blobs stay, shared by content."""
    for row in session.exec(select(MessageAttachment).where(MessageAttachment.message_id == message.id)):
        session.delete(row)
    session.flush()


def find_duplicates(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], InboundMessage]:
    """The stored messages among these (Message-ID, content hash) pairs, in one query for a batch."""
    if not keys:
        return {}
    found = session.exec(select(InboundMessage).where(
        InboundMessage.message_id.in_({message_id for message_id, _ in keys}))).all()
    wanted = set(keys)
    return {(m.message_id, m.content_hash): m for m in found if (m.message_id, m.content_hash) in wanted}


def find_duplicate(session: Session, message_id: str, content_hash: str) -> InboundMessage | None:
    return session.exec(
        select(InboundMessage).where(
            InboundMessage.message_id == message_id, InboundMessage.content_hash == content_hash
        )
    ).first()


def directory(session: Session, alliance: Alliance, domain: str, protocol_address: str) -> Directory:
    """Groups and known senders, as routing sees them (partners who left or were forgotten are unknown)."""
    groups = session.exec(select(Group).where(Group.alliance_id == alliance.id, Group.active)).all()
    slugs = {g.id: g.slug for g in groups}
    partners = session.exec(
        select(Partner).where(
            Partner.alliance_id == alliance.id, Partner.left_at.is_(None), Partner.email_key.is_not(None)
        )
    ).all()
    memberships: dict[int, list[str]] = {}
    for m in session.exec(select(Membership).where(Membership.until.is_(None))):
        if m.group_id in slugs:
            memberships.setdefault(m.partner_id, []).append(slugs[m.group_id])
    return Directory(
        domain=domain,
        protocol_address=protocol_address,
        groups=[GroupEntry(slug=g.slug, name=g.name, aliases=tuple(g.aliases), id=g.id) for g in groups],
        senders={
            p.email_key: SenderEntry(email=p.email, role=p.role, groups=tuple(sorted(memberships.get(p.id, []))),
                                     partner_id=p.id, name=p.name, organisation=p.organisation, audience=p.audience)
            for p in partners
        },
    )


def attachments_of(session: Session, message: InboundMessage) -> list[tuple[MessageAttachment, Blob]]:
    return list(session.exec(
        select(MessageAttachment, Blob)
        .join(Blob, Blob.sha256 == MessageAttachment.blob_sha256)
        .where(MessageAttachment.message_id == message.id)
        .order_by(MessageAttachment.position)
    ).all())


# --- rows -----------------------------------------------------------------------------------------------


def key(parsed: ParsedMessage) -> tuple[str, str]:
    """What makes a message the same message: its Message-ID and its content."""
    return storable(parsed.message_id), parsed.content_hash


def new_row(entry: SpoolEntry, parsed: ParsedMessage, raw_path: str, size: int) -> InboundMessage:
    """The row of a message as received and parsed; classify, route and extract fill in the rest."""
    return build(
        InboundMessage, message_id=storable(parsed.message_id),
        content_hash=parsed.content_hash,
        raw_path=raw_path,
        size=size,
        received_at=entry.received_at,
        received_via=entry.via,
        envelope_from=storable(entry.envelope_from),
        envelope_to=list(entry.envelope_to),
        sender=storable(parsed.sender),
        sender_name=storable(parsed.sender_name),
        subject=storable(parsed.subject),
        sent_at=parsed.sent_at,
        text=storable(combined_text(parsed)),
        html=storable(parsed.html),
        defects=list(parsed.defects),
    )


def bare_row(entry: SpoolEntry, parsed: ParsedMessage, raw_path: str, size: int) -> InboundMessage:
    """The least row of a message, for quarantine when even `new_row` fails on it: the raw bytes are the record."""
    return InboundMessage(message_id=storable(parsed.message_id)[:998], content_hash=parsed.content_hash,
                          raw_path=raw_path, size=size, received_at=entry.received_at, received_via=entry.via)


def quarantine(message: InboundMessage, stage: str, error: BaseException, reason: str, at: datetime) -> None:
    """Mark the row as one that filing could not process: kept with where and why, for a retry or a rejection."""
    message.kind = MessageKind.other
    message.status = MessageStatus.quarantined
    message.group_id = None
    message.error = storable(f"{type(error).__name__}: {error}")[:2000]
    message.error_stage = stage
    message.error_at = at
    message.reason = storable(reason)[:2000]
    message.followed_up_at = at


def combined_text(parsed: ParsedMessage) -> str:
    """All the protocol's own text: the new body, forwarded messages, then documents."""
    parts = [parsed.text.strip()]
    for forwarded in parsed.forwarded:
        parts.append(f"--- Weitergeleitete Nachricht: {forwarded.subject} ---\n{forwarded.text.strip()}")
    for attachment in parsed.attachments:
        if attachment.text and not attachment.inline:
            parts.append(f"--- Anhang: {attachment.filename} ---\n{attachment.text.strip()}")
    return "\n\n".join(p for p in parts if p)


def apply_extraction(message: InboundMessage, extraction: Extraction) -> None:
    message.meeting_date = extraction.meeting_date
    if extraction.next_meeting is not None:
        message.next_meeting_start = extraction.next_meeting.start.isoformat()
        message.next_meeting_location = extraction.next_meeting.location
    message.corrects_meeting = extraction.next_meeting.replaces if extraction.next_meeting else extraction.cancelled
    message.attendees = list(extraction.attendees)
    message.tasks = [
        {"what": t.what, "who": t.who, "who_email": t.who_email, "due": t.due.isoformat() if t.due else None}
        for t in extraction.tasks
    ]


def partner_by_address(session: Session, alliance_id: int, address: str | None) -> Partner | None:
    """Any partner with this address, also one who left (routing's directory knows only current ones)."""
    if not address:
        return None
    return session.exec(
        select(Partner).where(Partner.alliance_id == alliance_id, Partner.email_key == address_key(address))
    ).first()


def active_group_id(session: Session, alliance_id: int, slug: str) -> int | None:
    return session.exec(
        select(Group.id).where(Group.alliance_id == alliance_id, Group.slug == slug, Group.active)
    ).first()


# --- description ----------------------------------------------------------------------------------------


def summary(message: InboundMessage, status: str) -> dict:
    """What a log line needs of a filed message; `describe` is the full description."""
    return {"id": message.id, "message_id": message.message_id, "kind": message.kind, "status": status,
            "sender": message.sender, "reason": message.reason, "partner_id": message.partner_id}


def describe(session: Session, message: InboundMessage, status: str | None = None) -> dict:
    group = session.get(Group, message.group_id) if message.group_id else None
    next_meeting = None
    if message.next_meeting_start:
        next_meeting = {"start": message.next_meeting_start, "location": message.next_meeting_location}
    bounce = None
    if message.kind == "bounce":
        events = session.exec(select(BounceEvent).where(BounceEvent.message_id == message.id)).all()
        bounce = {
            "recipients": sorted({e.address for e in events if e.address}),
            "permanent": any(e.permanent for e in events),
        }
    return {
        "id": message.id,
        "message_id": message.message_id,
        "kind": message.kind,
        "status": status or message.status,
        "group": group.slug if group else None,
        "sender": message.sender,
        "partner_id": message.partner_id,
        "subject": message.subject,
        "date": _iso(message.sent_at),
        "received_at": _iso(message.received_at),
        "meeting_date": _iso(message.meeting_date),
        "next_meeting": next_meeting,
        "attendees": message.attendees,
        "tasks": message.tasks,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": blob.size,
             "text_chars": len(blob.text), "inline": a.inline, "sha256": blob.sha256}
            for a, blob in attachments_of(session, message)
        ],
        "text": message.text,
        "reason": message.reason,
        "error": message.error,
        "error_stage": message.error_stage,
        "defects": message.defects,
        "bounce": bounce,
    }


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
