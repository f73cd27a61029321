"""Store: raw mail into the archive, attachments into content-addressed blobs, results into rows.

The archive and blob stores are plain files under the data dir, named by SHA-256, so the same bytes
are kept once and a path never comes from a mail.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlmodel import Session, select

from hub import durable
from hub.inbound.message import Attachment, Directory, GroupEntry, SenderEntry
from hub.models import Alliance, Blob, Group, InboundMessage, Membership, MessageAttachment, Partner


def storable(text: str | None) -> str | None:
    """Text as every database keeps it: PostgreSQL refuses NUL characters, which broken mailers do send."""
    return text.replace("\x00", "\ufffd") if text else text


def archive_path(content_hash: str) -> str:
    return f"messages/{content_hash[:2]}/{content_hash}.eml"


def blob_path(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256}"


def archive_raw(data_dir: Path, spooled: Path, content_hash: str) -> str:
    """Keep the spooled bytes in the archive: a hard link (no copy), or a durable copy across filesystems.

    The new link is durable only after `sync_dirs` of its folder, which the caller does once per batch
    before the spool lets go of the file."""
    relative = archive_path(content_hash)
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return relative
    try:
        os.link(spooled, target)
    except FileExistsError:
        return relative
    except OSError:
        durable.replace(target, spooled.read_bytes())
    return relative


def sync_dirs(folders: set[Path]) -> None:
    for folder in folders:
        durable.fsync_dir(folder)


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
                                     partner_id=p.id)
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
