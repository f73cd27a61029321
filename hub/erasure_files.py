"""Erasing a person from the files under the data dir (see hub/erasure.py): the archived raw mail, the
attachments of their own mail and the Maildir outbox."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from hub import durable
from hub.config import Config
from hub.mail_redaction import Identity, body_mentions, mask_bytes, redact_mail, redact_text
from hub.models import Blob, InboundMessage, MessageAttachment, MessageKind
from hub.outbound.transports import maildir_path

BATCH = 500
MAILDIR_NAME = re.compile(r"\.D(\d+)\.hub")


def redact_blobs(session: Session, config: Config, theirs: list[int], person: Identity) -> None:
    """Attachments of the person's own mail: the extracted text, and the file (a text rewritten, any other
    document masked at the same length, so its structure holds)."""
    if not theirs:
        return
    blobs = session.exec(select(Blob).join(MessageAttachment, MessageAttachment.blob_sha256 == Blob.sha256)
                         .where(MessageAttachment.message_id.in_(theirs))).all()
    for blob in blobs:
        text = redact_text(person, blob.text)
        if text != blob.text:
            blob.text = text
            session.add(blob)
        path = config.data_dir / blob.path
        try:
            data = path.read_bytes()
        except OSError:
            continue
        new = mask_bytes(person, data)
        if blob.content_type.startswith("text/"):
            decoded = data.decode("utf-8", "surrogateescape")
            new = redact_text(person, decoded).encode("utf-8", "surrogateescape")
        if new != data:
            durable.replace(path, new)


def redact_archive(session: Session, config: Config, theirs: set[int], person: Identity) -> tuple[int, set[int]]:
    """Every archived raw mail: the person's own and non-protocols redacted throughout, others' protocols in
    their headers only (their text is counted for review). Returns the files rewritten and the ids of others'
    protocols whose text mentions the person."""
    rewritten, mentioned, done = 0, set(), set()
    last = 0
    while True:
        rows = session.exec(select(InboundMessage.id, InboundMessage.raw_path, InboundMessage.kind)
                            .where(InboundMessage.id > last).order_by(InboundMessage.id).limit(BATCH)).all()
        if not rows:
            return rewritten, mentioned
        last = rows[-1][0]
        for message_id, raw_path, kind in rows:
            whole = message_id in theirs or kind != MessageKind.protocol
            path = config.data_dir / raw_path
            if (raw_path, whole) in done or not path.is_file():
                continue
            done.add((raw_path, whole))
            raw = path.read_bytes()
            if not whole and body_mentions(person, raw):
                mentioned.add(message_id)
            new = redact_mail(person, raw, bodies=whole)
            if new is not None:
                durable.replace(path, new)
                rewritten += 1


def redact_maildir(config: Config, delivery_ids: set[int], address: str, person: Identity) -> tuple[int, int]:
    """Files of the Maildir outbox addressed to the person go; any other that names them is redacted."""
    removed = redacted = 0
    root = maildir_path(config)
    for folder in ("new", "cur", "tmp"):
        directory = root / folder
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            match = MAILDIR_NAME.search(path.name)
            raw = path.read_bytes()
            if (match and int(match.group(1)) in delivery_ids) or addressed_to(raw, address):
                path.unlink()
                removed += 1
                continue
            new = redact_mail(person, raw, bodies=True)
            if new is not None:
                durable.replace(path, new)
                redacted += 1
        durable.fsync_dir(directory)
    return removed, redacted


def addressed_to(raw: bytes, address: str) -> bool:
    head = raw.split(b"\n\n", 1)[0].replace(b"\r", b"")
    wanted = address.lower().encode("utf-8", "surrogateescape")
    return any(line.lower().startswith((b"delivered-to:", b"to:")) and wanted in line.lower()
               for line in re.sub(rb"\n[ \t]+", b" ", head).split(b"\n"))


def outbox_files(config: Config, address: str) -> list[str]:
    """The Maildir outbox files addressed to `address`, relative to the data dir (DSGVO Art. 15)."""
    root = maildir_path(config)
    return [str(p.relative_to(config.data_dir)) for folder in ("new", "cur", "tmp") if (root / folder).is_dir()
            for p in sorted((root / folder).iterdir()) if addressed_to(p.read_bytes(), address)]
